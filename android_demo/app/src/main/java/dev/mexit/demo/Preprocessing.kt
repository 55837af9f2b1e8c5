package dev.mexit.demo

import android.graphics.Bitmap
import android.graphics.Color
import android.graphics.Matrix
import dev.mexit.core.Manifest

/**
 * Camera or gallery bitmap -> the raw pixel values stage 0 expects.
 *
 * The bundle's stage 0 rescales pixels itself, so the app only resizes (centre
 * crop) and converts to the model's channel count; values stay in 0..255.
 * Fashion-MNIST items are light on black, so grayscale frames are inverted
 * when `invert` is set (photos of clothes are dark on a light background).
 */
object Preprocessing {
    /**
     * The frame as the user sees it. CameraX delivers analysis frames in the
     * sensor's orientation (usually 90 degrees off a phone held upright) and
     * says by how much in `imageInfo.rotationDegrees`; `ImageProxy.toBitmap()`
     * does not apply it.
     */
    fun upright(bitmap: Bitmap, rotationDegrees: Int): Bitmap {
        if (rotationDegrees % 360 == 0) return bitmap
        val matrix = Matrix().apply { postRotate(rotationDegrees.toFloat()) }
        return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, matrix, true)
    }

    fun toInput(bitmap: Bitmap, manifest: Manifest, invert: Boolean): FloatArray {
        val (height, width, channels) = manifest.inputShape.let { Triple(it[1], it[2], it[3]) }
        val side = minOf(bitmap.width, bitmap.height)
        val square = Bitmap.createBitmap(bitmap, (bitmap.width - side) / 2,
            (bitmap.height - side) / 2, side, side)
        val scaled = Bitmap.createScaledBitmap(square, width, height, true)
        val out = FloatArray(height * width * channels)
        for (y in 0 until height) for (x in 0 until width) {
            val pixel = scaled.getPixel(x, y)
            val rgb = floatArrayOf(Color.red(pixel).toFloat(), Color.green(pixel).toFloat(),
                Color.blue(pixel).toFloat())
            val at = (y * width + x) * channels
            if (channels == 1) {
                val gray = 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2]
                out[at] = if (invert) 255f - gray else gray
            } else {
                for (c in 0 until channels) out[at + c] = rgb[c]
            }
        }
        return out
    }
}
