package dev.mexit.core

import kotlin.math.abs
import kotlin.math.exp
import kotlin.math.ln

/**
 * Decides where a cascade stops; the same semantics as `mexit_tf.gating` in Python, for
 * all seven policy types: confidence, entropy, margin, patience, budget (any task),
 * agreement and std (regression).
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
        val TYPES = ManifestContract.POLICY_TYPES

        /**
         * Builds a policy from its JSON (a manifest's `policy`, an operating point's, a
         * `--policy` file) for a bundle of [numStages] stages. It is checked first as the
         * manifest contract says ([ManifestContract.checkPolicy]); a malformed one raises
         * [BundleException] naming the field under [path].
         */
        fun fromJson(data: Any?, numStages: Int, path: String = "policy"): ExitPolicy {
            ManifestContract.checkPolicy(data, numStages, path)
            val fields = data as Map<*, *>
            fun numbers(key: String) = (fields[key] as List<*>).map { it as Double }.toDoubleArray()
            return when (fields["type"]) {
                "confidence" -> ConfidencePolicy(numbers("thresholds"))
                "entropy" -> EntropyPolicy(numbers("thresholds"))
                "margin" -> MarginPolicy(numbers("thresholds"))
                "std" -> VariancePolicy(numbers("thresholds"))
                "agreement" -> AgreementPolicy(numbers("thresholds"))
                "patience" -> PatiencePolicy((fields["patience"] as Double).toInt(), (fields["num_exits"] as Double).toInt())
                else -> BudgetPolicy(fields["budget"] as Double, numbers("stage_costs"), fields["unit"] as? String ?: "ms")
            }
        }
    }
}

/** Score-threshold policies on the softmax: exit k answers when its score passes t_k. */
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

/** Entropy of the softmax (nats) <= t_k. */
class EntropyPolicy(thresholds: DoubleArray) : ThresholdPolicy(thresholds) {
    override val higherIsConfident = false

    override fun score(probabilities: DoubleArray): Double {
        val terms = DoubleArray(probabilities.size) {
            probabilities[it] * ln(probabilities[it].coerceIn(1e-12, 1.0))
        }
        return -Scores.numpySum(terms)
    }
}

/** Top-1 minus top-2 probability >= t_k (a one-class row has no runner-up: 0, as NumPy's sort would fail). */
class MarginPolicy(thresholds: DoubleArray) : ThresholdPolicy(thresholds) {
    override fun score(probabilities: DoubleArray): Double {
        if (probabilities.size < 2) return 0.0
        // The two largest in one pass (NaN sorts last in NumPy, so it is the "largest" there too).
        var first = Double.NEGATIVE_INFINITY
        var second = Double.NEGATIVE_INFINITY
        for (p in probabilities) {
            if (p.isNaN() || p > first) { second = first; first = p } else if (p > second) second = p
            if (first.isNaN()) return Double.NaN
        }
        return first - second
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

/**
 * Regression: exit k >= 1 answers once its prediction (output 0: the value, or the mean
 * of mean + log-variance) is within t_k of exit k-1's; the first exit never answers alone
 * (K-2 thresholds, for exits 2..K-1), as Python's `AgreementPolicy`.
 */
class AgreementPolicy(val thresholds: DoubleArray) : ExitPolicy() {
    override val numExits get() = thresholds.size + 2

    override fun accepts(outputs: List<DoubleArray>, index: Int): Boolean =
        index > 0 && abs(outputs[index][0] - outputs[index - 1][0]) <= thresholds[index - 1]
}

/**
 * Regression with predicted variance: exit k answers when its predicted standard
 * deviation exp(log-variance / 2), the log-variance (output 1) clipped to
 * +-[LOG_VARIANCE_LIMIT], is <= t_k, as Python's `VariancePolicy` ("std").
 */
class VariancePolicy(val thresholds: DoubleArray) : ExitPolicy() {
    override val numExits get() = thresholds.size + 1

    override fun accepts(outputs: List<DoubleArray>, index: Int): Boolean {
        val row = outputs[index]
        if (row.size < 2) throw IllegalStateException("a std policy needs exits that output mean and log-variance; " +
            "exit $index gives ${row.size} value(s)")
        // np.clip keeps NaN; exp(NaN) <= t is false, as here.
        val logVariance = row[1].let { if (it.isNaN()) it else it.coerceIn(-LOG_VARIANCE_LIMIT, LOG_VARIANCE_LIMIT) }
        return exp(0.5 * logVariance) <= thresholds[index]
    }

    companion object {
        const val LOG_VARIANCE_LIMIT = 10.0
    }
}
