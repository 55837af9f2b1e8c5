package dev.mexit.core

import kotlin.math.floor

/**
 * How every reader of a bundle turns pixels into stage 0's input, bit for bit as Python
 * (mexit_tf/data/image_file.py), so the model sees on the JVM and on a phone what it was
 * trained and calibrated on. The manifest names the resize rule (`input.resize`).
 */
object PixelRules {
    /** The only resize rule a bundle of format 1 names. */
    const val RESIZE_RULE = "bilinear-half-pixel"

    /**
     * 8-bit pixels (row-major, [channels] interleaved) of [height] x [width] -> [outHeight]
     * x [outWidth]: bilinear with half-pixel centres, no antialiasing, rounded half up.
     * The same double-precision expressions, in the same order, as `resize_bilinear`.
     */
    fun resizeBilinear(pixels: IntArray, height: Int, width: Int, channels: Int,
                       outHeight: Int, outWidth: Int): IntArray {
        require(height > 0 && width > 0 && channels > 0 && outHeight > 0 && outWidth > 0) {
            "sizes must be positive: ${height}x$width x $channels -> ${outHeight}x$outWidth"
        }
        require(pixels.size.toLong() == height.toLong() * width * channels) {
            "${pixels.size} values for ${height}x$width x $channels pixels"
        }
        val (y0, y1, fy) = taps(outHeight, height)
        val (x0, x1, fx) = taps(outWidth, width)
        val out = IntArray(outHeight * outWidth * channels)
        for (y in 0 until outHeight) for (x in 0 until outWidth) for (c in 0 until channels) {
            fun at(row: Int, column: Int) = pixels[(row * width + column) * channels + c].toDouble()
            val top = at(y0[y], x0[x]) + (at(y0[y], x1[x]) - at(y0[y], x0[x])) * fx[x]
            val bottom = at(y1[y], x0[x]) + (at(y1[y], x1[x]) - at(y1[y], x0[x])) * fx[x]
            out[(y * outWidth + x) * channels + c] = floor(top + (bottom - top) * fy[y] + 0.5).toInt()
        }
        return out
    }

    /** Pillow's RGB -> "L" (ITU-R 601-2 luma in its fixed-point rounding). */
    fun luma(red: Int, green: Int, blue: Int): Int =
        (red * 19595 + green * 38470 + blue * 7471 + 0x8000) shr 16

    private fun taps(out: Int, sizeIn: Int): Triple<IntArray, IntArray, DoubleArray> {
        val low = IntArray(out)
        val high = IntArray(out)
        val fraction = DoubleArray(out)
        for (i in 0 until out) {
            val centre = ((i + 0.5) * sizeIn / out - 0.5).coerceIn(0.0, sizeIn - 1.0)
            low[i] = floor(centre).toInt()
            high[i] = minOf(low[i] + 1, sizeIn - 1)
            fraction[i] = centre - low[i]
        }
        return Triple(low, high, fraction)
    }
}
