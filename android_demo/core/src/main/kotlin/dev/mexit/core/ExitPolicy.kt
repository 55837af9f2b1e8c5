package dev.mexit.core

import kotlin.math.ln

/**
 * Decides where a cascade stops; the same semantics as `mexit_tf.gating` in Python.
 *
 * After each stage, [shouldStop] sees the outputs of every exit run so far
 * (shallowest first) and says whether the newest exit's answer is accepted;
 * the last exit always answers. Scores are computed in double precision, as
 * NumPy does, and sums follow NumPy's summation order.
 */
sealed class ExitPolicy {
    abstract val numExits: Int

    /** Does exit [index] accept its answer, given the outputs of exits 0..index? */
    abstract fun accepts(outputs: List<DoubleArray>, index: Int): Boolean

    fun shouldStop(outputsSoFar: List<DoubleArray>): Boolean {
        val depth = outputsSoFar.size
        return depth >= numExits || accepts(outputsSoFar, depth - 1)
    }

    /** The exit a full set of outputs stops at (what the cascade would do). */
    fun selectExit(outputs: List<DoubleArray>): Int {
        require(outputs.size == numExits) { "expected $numExits exits, got ${outputs.size}" }
        for (index in 0 until numExits - 1) if (accepts(outputs, index)) return index
        return numExits - 1
    }

    companion object {
        val TYPES = listOf("confidence", "entropy", "margin", "patience", "budget")

        /** Parses a manifest's `policy` object; a malformed one raises [BundleException]. */
        fun fromJson(data: Any?, numStages: Int): ExitPolicy {
            val fields = data as? Map<*, *> ?: throw BundleException("policy must be an object")
            val policy = when (val type = fields["type"]) {
                "confidence" -> ConfidencePolicy(thresholds(fields, 0.0, 1.0))
                "entropy" -> EntropyPolicy(thresholds(fields, 0.0, Double.POSITIVE_INFINITY))
                "margin" -> MarginPolicy(thresholds(fields, 0.0, 1.0))
                "patience" -> PatiencePolicy(count(fields, "patience"), count(fields, "num_exits"))
                "budget" -> BudgetPolicy(
                    number(fields["budget"], "budget", 0.0, Double.POSITIVE_INFINITY),
                    numbers(fields["stage_costs"], "stage_costs", 0.0, Double.POSITIVE_INFINITY),
                    fields["unit"] as? String ?: "ms",
                )
                else -> throw BundleException(
                    "unknown policy type ${quote(type)}; known: ${TYPES.joinToString()}")
            }
            if (policy.numExits != numStages) {
                throw BundleException(
                    "policy covers ${policy.numExits} exits but the bundle has $numStages stages")
            }
            return policy
        }

        private fun quote(value: Any?) = if (value is String) "'$value'" else value.toString()

        private fun thresholds(fields: Map<*, *>, low: Double, high: Double) =
            numbers(fields["thresholds"], "${fields["type"]} thresholds", low, high)

        private fun numbers(value: Any?, what: String, low: Double, high: Double): DoubleArray {
            val items = value as? List<*> ?: throw BundleException("$what must be a list of numbers")
            return DoubleArray(items.size) { number(items[it], what, low, high) }
        }

        private fun number(value: Any?, what: String, low: Double, high: Double): Double {
            val x = value as? Double
            if (x == null || x.isNaN() || x < low || x > high) {
                throw BundleException("$what must be numbers in [$low, $high]; received $value")
            }
            return x
        }

        private fun count(fields: Map<*, *>, key: String): Int {
            val x = fields[key] as? Double
            if (x == null || x < 1 || x != Math.floor(x)) {
                throw BundleException("$key must be an integer >= 1; received ${fields[key]}")
            }
            return x.toInt()
        }
    }
}

/** Score-threshold policies: exit k answers when its score passes t_k. */
sealed class ThresholdPolicy(val thresholds: DoubleArray) : ExitPolicy() {
    override val numExits get() = thresholds.size + 1
    protected open val higherIsConfident = true

    abstract fun score(probabilities: DoubleArray): Double

    override fun accepts(outputs: List<DoubleArray>, index: Int): Boolean {
        val score = score(Scores.softmax(outputs[index]))
        return if (higherIsConfident) score >= thresholds[index] else score <= thresholds[index]
    }
}

/** Max softmax probability >= t_k. */
class ConfidencePolicy(thresholds: DoubleArray) : ThresholdPolicy(thresholds) {
    override fun score(probabilities: DoubleArray) = probabilities.max()
}

/** Entropy of the softmax <= t_k. */
class EntropyPolicy(thresholds: DoubleArray) : ThresholdPolicy(thresholds) {
    override val higherIsConfident = false

    override fun score(probabilities: DoubleArray): Double {
        val terms = DoubleArray(probabilities.size) {
            probabilities[it] * ln(probabilities[it].coerceIn(1e-12, 1.0))
        }
        return -Scores.numpySum(terms)
    }
}

/** Top-1 minus top-2 probability >= t_k. */
class MarginPolicy(thresholds: DoubleArray) : ThresholdPolicy(thresholds) {
    override fun score(probabilities: DoubleArray): Double {
        val sorted = probabilities.sorted()
        return sorted[sorted.size - 1] - sorted[sorted.size - 2]
    }
}

/** The last [patience] exits agree on the top class. */
class PatiencePolicy(val patience: Int, override val numExits: Int) : ExitPolicy() {
    override fun accepts(outputs: List<DoubleArray>, index: Int): Boolean {
        if (index + 1 < patience) return false
        val answer = Scores.argmax(outputs[index])
        return (index - patience + 1..index).all { Scores.argmax(outputs[it]) == answer }
    }
}

/** The deepest exit whose cumulative cost fits [budget]; the first exit always answers. */
class BudgetPolicy(val budget: Double, val stageCosts: DoubleArray, val unit: String) :
    ExitPolicy() {
    override val numExits get() = stageCosts.size
    val deepest: Int

    init {
        if (stageCosts.isEmpty()) throw BundleException("stage_costs must list at least one stage")
        var total = 0.0
        var fits = 0
        for (cost in stageCosts) {
            total += cost
            if (total <= budget) fits++ else break
        }
        deepest = maxOf(0, fits - 1)
    }

    override fun accepts(outputs: List<DoubleArray>, index: Int) = index >= deepest
}
