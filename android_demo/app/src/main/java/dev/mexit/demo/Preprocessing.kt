package dev.mexit.demo

import android.graphics.Bitmap
import android.graphics.Color
import android.graphics.Matrix
import dev.mexit.core.Manifest
import dev.mexit.core.PixelRules

/**
 * Camera or gallery bitmap -> the raw pixel values stage 0 expects.
 *
 * The bundle's stage 0 rescales pixels itself, so the app only crops the centre
 * square, converts to the model's channel count and resizes (`PixelRules`, the rule
 * the manifest names); values stay in 0..255.
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
        val left = (bitmap.width - side) / 2
        val top = (bitmap.height - side) / 2
        val argb = IntArray(side * side)
        bitmap.getPixels(argb, 0, side, left, top, side, side)
        // Channels first, then the one resize rule every reader uses (PixelRules, as in
        // Python and mexit-jvm): the model sees what it was trained on.
        val pixels = IntArray(side * side * channels)
        for (i in argb.indices) {
            val (r, g, b) = Triple(Color.red(argb[i]), Color.green(argb[i]), Color.blue(argb[i]))
            if (channels == 1) {
                pixels[i] = PixelRules.luma(r, g, b)
            } else {
                pixels[i * 3] = r
                pixels[i * 3 + 1] = g
                pixels[i * 3 + 2] = b
            }
        }
        val scaled = if (side == height && side == width) pixels else
            PixelRules.resizeBilinear(pixels, side, side, channels, height, width)
        return FloatArray(scaled.size) { i ->
            val value = scaled[i].toFloat()
            if (channels == 1 && invert) 255f - value else value
        }
    }
}
