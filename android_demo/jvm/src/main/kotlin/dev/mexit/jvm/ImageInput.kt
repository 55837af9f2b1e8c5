package dev.mexit.jvm

import dev.mexit.core.Manifest
import dev.mexit.core.PixelRules
import java.awt.color.ColorSpace
import java.awt.image.BufferedImage
import java.awt.image.ComponentColorModel
import java.io.File
import javax.imageio.ImageIO

/**
 * An image file -> the raw pixel values stage 0 expects (NHWC, 0..255), as
 * `mexit predict` reads it (mexit_tf/data/image_file.py), in the same order:
 *
 * 1. to 8 bits, as Pillow and mexit do. 16-bit greyscale (Pillow's mode `I;16`) is
 *    scaled by its full range, round(v * 255 / 65535) (Pillow's own conversion would
 *    clip it to white; Java's ImageIO hands the raw 0..65535 samples, which the JVM
 *    used to feed the model as they were). 16-bit RGB, RGBA and grey+alpha keep each
 *    sample's high byte (Pillow decodes them so: `RGB;16B`, `LA;16B`). 1/2/4-bit grey
 *    is stretched to 0..255; an alpha channel is dropped.
 * 2. to the bundle's channel count: grey to RGB by copying; RGB to grey with Pillow's
 *    "L" (ITU-R 601-2 luma, its fixed-point rounding).
 * 3. resized to the bundle's input size when it differs, by the one rule every reader
 *    uses (`PixelRules.resizeBilinear`, the manifest's `input.resize`): the same bytes
 *    as Python's.
 *
 * Each change is listed in [changes]. An 8-bit grey or RGB image of the bundle's
 * size is read exactly. Images over [MAX_PIXELS] are refused before decoding.
 */
class ImageInput(val pixels: FloatArray, val changes: List<String>) {
    companion object {
        /** Pillow's MAX_IMAGE_PIXELS: a larger image is refused, not decoded. */
        const val MAX_PIXELS = 89_478_485L

        fun read(file: File, manifest: Manifest): ImageInput {
            val shape = manifest.inputShape
            if (shape.size != 4 || shape[3] !in setOf(1, 3) || shape[1] <= 0 || shape[2] <= 0) {
                throw IllegalArgumentException("the bundle's input shape $shape is not [1, H, W, 1 or 3]; " +
                    "mexit-jvm reads grey or RGB images")
            }
            val (height, width, channels) = Triple(shape[1], shape[2], shape[3])
            val decoded = decode(file)
            val changes = ArrayList<String>()
            var image = eightBit(decoded, channels, changes)
            if (image.width != width || image.height != height) {
                changes.add("resized ${image.width}x${image.height} to ${width}x$height")
                image = resized(image, width, height)
            }
            val out = FloatArray(height * width * channels)
            for (y in 0 until height) for (x in 0 until width) {
                val at = (y * width + x) * channels
                if (channels == 1) {
                    out[at] = image.raster.getSample(x, y, 0).toFloat()
                } else {
                    val rgb = image.getRGB(x, y)
                    out[at] = (rgb shr 16 and 255).toFloat()
                    out[at + 1] = (rgb shr 8 and 255).toFloat()
                    out[at + 2] = (rgb and 255).toFloat()
                }
            }
            return ImageInput(out, changes)
        }

        /** Decodes [file], its size checked from the header first; one-line errors. */
        private fun decode(file: File): BufferedImage {
            fun failed(why: String): Nothing = throw IllegalArgumentException("${file.path}: cannot decode as an image ($why)")
            try {
                ImageIO.createImageInputStream(file).use { stream ->
                    stream ?: failed("cannot open it")
                    val reader = ImageIO.getImageReaders(stream).asSequence().firstOrNull()
                        ?: failed("formats this JVM reads: ${ImageIO.getReaderFormatNames().map { it.lowercase() }.toSortedSet()}")
                    try {
                        reader.input = stream
                        val (width, height) = reader.getWidth(0) to reader.getHeight(0)
                        if (width <= 0 || height <= 0 || width.toLong() * height > MAX_PIXELS) {
                            failed("${width}x$height pixels; at most $MAX_PIXELS are read")
                        }
                        return reader.read(0)
                    } finally {
                        reader.dispose()
                    }
                }
            } catch (error: IllegalArgumentException) {
                throw error
            } catch (error: Exception) {
                // ImageIO answers a malformed file with assorted exceptions (IIOException,
                // IndexOutOfBounds, NegativeArraySize...): all are "this file does not decode".
                failed((error.message ?: error.javaClass.simpleName).lineSequence().first().take(160))
            } catch (error: OutOfMemoryError) {
                failed("out of memory")
            }
        }

        /** Step 1 and 2: 8-bit grey (TYPE_BYTE_GRAY) or RGB (TYPE_INT_RGB) at the file's size. */
        private fun eightBit(image: BufferedImage, channels: Int, changes: MutableList<String>): BufferedImage {
            val model = image.colorModel
            val raster = image.raster
            val bits = model.getComponentSize(0)
            val component = model is ComponentColorModel
            val grey = component && model.colorSpace.type == ColorSpace.TYPE_GRAY
            val rgb = component && model.colorSpace.type == ColorSpace.TYPE_RGB && raster.numBands >= 3
            val scale: (Int) -> Int = when {
                !component || bits == 8 -> { value -> value }
                grey && bits == 16 && raster.numBands == 1 -> { value -> Math.round(value * 255.0 / 65535.0).toInt() }
                bits == 16 -> { value -> value ushr 8 }
                bits < 8 -> { value -> value * 255 / ((1 shl bits) - 1) }
                else -> throw IllegalArgumentException("$bits-bit samples are not read (8- and 16-bit are)")
            }
            if ((grey || rgb) && bits == 16) {
                changes.add(if (grey && raster.numBands == 1) "scaled I;16 (16-bit) to 8-bit" else "read 16-bit samples as 8-bit")
            }
            if (model.hasAlpha()) changes.add("dropped the alpha channel")
            if (grey != (channels == 1)) changes.add(if (grey) "converted L to RGB" else "converted RGB to L")
            val out = BufferedImage(image.width, image.height,
                if (channels == 1) BufferedImage.TYPE_BYTE_GRAY else BufferedImage.TYPE_INT_RGB)
            for (y in 0 until image.height) for (x in 0 until image.width) {
                val (r, g, b) = when {
                    grey -> scale(raster.getSample(x, y, 0)).let { Triple(it, it, it) }
                    rgb -> Triple(scale(raster.getSample(x, y, 0)), scale(raster.getSample(x, y, 1)),
                        scale(raster.getSample(x, y, 2)))
                    // Palette and packed images: their sRGB colours.
                    else -> image.getRGB(x, y).let { Triple(it shr 16 and 255, it shr 8 and 255, it and 255) }
                }
                if (channels == 1) {
                    val luma = if (grey) r else PixelRules.luma(r, g, b)
                    out.raster.setSample(x, y, 0, luma)
                } else {
                    out.setRGB(x, y, (r shl 16) or (g shl 8) or b)
                }
            }
            return out
        }

        private fun resized(image: BufferedImage, width: Int, height: Int): BufferedImage {
            val channels = if (image.type == BufferedImage.TYPE_BYTE_GRAY) 1 else 3
            val pixels = IntArray(image.width * image.height * channels)
            for (y in 0 until image.height) for (x in 0 until image.width) {
                val at = (y * image.width + x) * channels
                if (channels == 1) {
                    pixels[at] = image.raster.getSample(x, y, 0)
                } else {
                    val rgb = image.getRGB(x, y)
                    pixels[at] = rgb shr 16 and 255
                    pixels[at + 1] = rgb shr 8 and 255
                    pixels[at + 2] = rgb and 255
                }
            }
            val scaled = PixelRules.resizeBilinear(pixels, image.height, image.width, channels,
                height, width)
            val out = BufferedImage(width, height, image.type)
            for (y in 0 until height) for (x in 0 until width) {
                val at = (y * width + x) * channels
                if (channels == 1) {
                    out.raster.setSample(x, y, 0, scaled[at])
                } else {
                    out.setRGB(x, y, (scaled[at] shl 16) or (scaled[at + 1] shl 8) or scaled[at + 2])
                }
            }
            return out
        }
    }
}
