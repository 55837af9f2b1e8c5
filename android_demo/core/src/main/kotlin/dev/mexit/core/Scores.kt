package dev.mexit.core

import kotlin.math.exp

/** Softmax and friends, computed the way NumPy computes them in the Python runtime. */
object Scores {
    /** Softmax over a row of any length (1,000 classes as well as 10). */
    fun softmax(logits: DoubleArray): DoubleArray {
        require(logits.isNotEmpty()) { "softmax of an empty row" }
        val max = logits.max()
        val exps = DoubleArray(logits.size) { exp(logits[it] - max) }
        val total = numpySum(exps)
        return DoubleArray(exps.size) { exps[it] / total }
    }

    /**
     * NumPy's pairwise summation (`pairwise_sum` in its umath loops), for rows of any
     * length: below 8 values a plain loop; up to 128, eight running sums combined as a
     * tree, then the tail; longer, the row split in two at a multiple of 8 near the middle
     * and each half summed the same way. The same order gives the same rounding, so
     * thresholds compare alike.
     */
    fun numpySum(values: DoubleArray): Double = pairwise(values, 0, values.size)

    private fun pairwise(values: DoubleArray, from: Int, n: Int): Double {
        if (n < 8) {
            var sum = 0.0
            for (i in from until from + n) sum += values[i]
            return sum
        }
        if (n <= BLOCK) {
            val r = DoubleArray(8) { values[from + it] }
            var i = 8
            while (i < n - n % 8) {
                for (j in 0 until 8) r[j] += values[from + i + j]
                i += 8
            }
            var sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while (i < n) sum += values[from + i++]
            return sum
        }
        var half = n / 2
        half -= half % 8
        return pairwise(values, from, half) + pairwise(values, from + half, n - half)
    }

    private const val BLOCK = 128

    /** Index of the largest value; the first one on ties, as NumPy's argmax (a NaN wins, as there). */
    fun argmax(values: DoubleArray): Int {
        var best = 0
        if (values[0].isNaN()) return 0
        for (i in 1 until values.size) {
            if (values[i].isNaN()) return i
            if (values[i] > values[best]) best = i
        }
        return best
    }
}
