package dev.mexit.jvm

import dev.mexit.core.Manifest
import java.awt.RenderingHints
import java.awt.image.BufferedImage
import java.io.File
import java.io.IOException
import javax.imageio.ImageIO

/**
 * An image file -> the raw pixel values stage 0 expects (NHWC, 0..255), as
 * `mexit predict` reads it: converted to the bundle's channel count (grey as
 * Pillow's "L", ITU-R 601-2 luma) and resized to its input size when they
 * differ, each change listed in [changes]. An 8-bit grey or RGB image of the
 * bundle's size is read exactly.
 */
class ImageInput(val pixels: FloatArray, val changes: List<String>) {
    companion object {
        fun read(file: File, manifest: Manifest): ImageInput {
            val decoded = try {
                ImageIO.read(file)
            } catch (error: IOException) {
                throw IllegalArgumentException("${file.path}: cannot read (${error.message})")
            } ?: throw IllegalArgumentException("${file.path}: cannot decode as an image " +
                "(formats this JVM reads: ${ImageIO.getReaderFormatNames().map { it.lowercase() }.toSortedSet()})")
            val (height, width, channels) = manifest.inputShape.let { Triple(it[1], it[2], it[3]) }
            val changes = ArrayList<String>()
            var image = decoded
            if (image.width != width || image.height != height) {
                changes.add("resized ${image.width}x${image.height} to ${width}x$height")
                image = resized(image, width, height)
            }
            val grey = image.raster.numBands == 1
            if (grey != (channels == 1)) changes.add(if (grey) "converted L to RGB" else "converted RGB to L")
            val out = FloatArray(height * width * channels)
            for (y in 0 until height) for (x in 0 until width) {
                val at = (y * width + x) * channels
                if (grey) {
                    val value = image.raster.getSample(x, y, 0).toFloat()
                    for (c in 0 until channels) out[at + c] = value
                } else {
                    val rgb = image.getRGB(x, y)
                    val (r, g, b) = Triple(rgb shr 16 and 255, rgb shr 8 and 255, rgb and 255)
                    if (channels == 1) out[at] = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) shr 16).toFloat()
                    else { out[at] = r.toFloat(); out[at + 1] = g.toFloat(); out[at + 2] = b.toFloat() }
                }
            }
            return ImageInput(out, changes)
        }

        private fun resized(image: BufferedImage, width: Int, height: Int): BufferedImage {
            val type = if (image.raster.numBands == 1) BufferedImage.TYPE_BYTE_GRAY else BufferedImage.TYPE_INT_RGB
            val out = BufferedImage(width, height, type)
            val graphics = out.createGraphics()
            graphics.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR)
            graphics.drawImage(image, 0, 0, width, height, null)
            graphics.dispose()
            return out
        }
    }
}
