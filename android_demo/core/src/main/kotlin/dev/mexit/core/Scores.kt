package dev.mexit.core

import kotlin.math.exp

/** Softmax and friends, computed the way NumPy computes them in the Python runtime. */
object Scores {
    fun softmax(logits: DoubleArray): DoubleArray {
        val max = logits.max()
        val exps = DoubleArray(logits.size) { exp(logits[it] - max) }
        val total = numpySum(exps)
        return DoubleArray(exps.size) { exps[it] / total }
    }

    /**
     * NumPy's pairwise summation for short rows (<= 128 values): below 8 a plain
     * loop, otherwise eight running sums combined as a tree, then the tail. The
     * same order gives the same rounding, so thresholds compare alike.
     */
    fun numpySum(values: DoubleArray): Double {
        val n = values.size
        if (n < 8) {
            var sum = 0.0
            for (v in values) sum += v
            return sum
        }
        require(n <= 128) { "rows longer than 128 values are summed in blocks by NumPy" }
        val r = DoubleArray(8) { values[it] }
        var i = 8
        while (i < n - n % 8) {
            for (j in 0 until 8) r[j] += values[i + j]
            i += 8
        }
        var sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while (i < n) sum += values[i++]
        return sum
    }

    /** Index of the largest value; the first one on ties, as NumPy's argmax. */
    fun argmax(values: DoubleArray): Int {
        var best = 0
        for (i in 1 until values.size) if (values[i] > values[best]) best = i
        return best
    }
}
