package dev.mexit.core

/**
 * Running statistics for the app's statistics view over the last [window] answers:
 * exit histogram, latency percentiles, the saving against running every stage, and
 * how many answers missed their deadline; [count] is every answer since the last reset.
 *
 * Memory and work stay bounded however long the camera runs: a ring of [window]
 * answers, per-exit and miss counts kept as answers enter and leave it, and the
 * window's latencies kept sorted (one binary-search insert and one removal per answer,
 * O(window) at worst), so a percentile costs O(1) instead of sorting every answer
 * ever seen on every frame. Not thread-safe: one owner (the app's inference thread).
 */
class CascadeStats(
    private val stageNames: List<String>,
    private val allStagesMillis: Double,
    val window: Int = 1000,
) {
    init {
        require(window >= 1) { "window must be >= 1; received $window" }
    }

    private val exits = IntArray(stageNames.size)
    private val ringExit = IntArray(window)
    private val ringMillis = DoubleArray(window)
    private val ringMissed = BooleanArray(window)
    private val sorted = DoubleArray(window)
    private var size = 0
    private var next = 0
    private var totalMillis = 0.0

    /** Answers seen since this was created (the window holds the last [window] of them). */
    var count = 0
        private set

    /** Answers in the window that came after their deadline (runs without one never count). */
    var misses = 0
        private set

    /** How many answers the statistics below describe: min([count], [window]). */
    val windowCount get() = size

    fun add(result: CascadeResult) {
        if (size == window) {
            exits[ringExit[next]]--
            if (ringMissed[next]) misses--
            totalMillis -= ringMillis[next]
            removeSorted(ringMillis[next])
        } else {
            size++
        }
        val millis = result.totalMillis
        ringExit[next] = result.exitIndex
        ringMillis[next] = millis
        ringMissed[next] = result.deadlineMet == false
        exits[result.exitIndex]++
        if (ringMissed[next]) misses++
        totalMillis += millis
        insertSorted(millis)
        next = (next + 1) % window
        count++
    }

    private fun insertSorted(value: Double) {
        val filled = size - 1  // sorted holds size - 1 values now
        var at = java.util.Arrays.binarySearch(sorted, 0, filled, value)
        if (at < 0) at = -at - 1
        System.arraycopy(sorted, at, sorted, at + 1, filled - at)
        sorted[at] = value
    }

    private fun removeSorted(value: Double) {
        val at = java.util.Arrays.binarySearch(sorted, 0, size, value)
        check(at >= 0) { "statistics out of step" }
        System.arraycopy(sorted, at + 1, sorted, at, size - at - 1)
    }

    fun missRate(): Double = if (size == 0) 0.0 else misses.toDouble() / size

    fun histogram(): Map<String, Double> =
        stageNames.indices.associate { stageNames[it] to if (size == 0) 0.0 else exits[it].toDouble() / size }

    /** Nearest-rank percentile of the per-image latency over the window, in ms. */
    fun percentile(p: Double): Double {
        if (size == 0) return 0.0
        val rank = Math.ceil(p / 100.0 * size).toInt().coerceIn(1, size)
        return sorted[rank - 1]
    }

    /** Fraction of the all-stages time saved on average over the window (0.6 = 60% less). */
    fun saving(): Double =
        if (size == 0 || allStagesMillis <= 0) 0.0 else 1.0 - (totalMillis / size) / allStagesMillis
}
