package dev.mexit.core

/**
 * Running statistics for the app's statistics view: exit histogram, p50/p95
 * latency, the saving against running every stage, and how many answers
 * missed their deadline.
 */
class CascadeStats(private val stageNames: List<String>, private val allStagesMillis: Double) {
    private val exits = IntArray(stageNames.size)
    private val latencies = ArrayList<Double>()

    val count get() = latencies.size

    /** Answers that came after their deadline (runs without one never count). */
    var misses = 0
        private set

    fun add(result: CascadeResult) {
        exits[result.exitIndex]++
        latencies.add(result.totalMillis)
        if (result.deadlineMet == false) misses++
    }

    fun missRate(): Double = if (count == 0) 0.0 else misses.toDouble() / count

    fun histogram(): Map<String, Double> =
        stageNames.indices.associate { stageNames[it] to if (count == 0) 0.0 else exits[it].toDouble() / count }

    /** Nearest-rank percentile of the per-image latency, in ms. */
    fun percentile(p: Double): Double {
        if (latencies.isEmpty()) return 0.0
        val sorted = latencies.sorted()
        val rank = Math.ceil(p / 100.0 * sorted.size).toInt().coerceIn(1, sorted.size)
        return sorted[rank - 1]
    }

    /** Fraction of the all-stages time saved on average (0.6 = 60% less). */
    fun saving(): Double =
        if (latencies.isEmpty() || allStagesMillis <= 0) 0.0 else 1.0 - latencies.average() / allStagesMillis
}
