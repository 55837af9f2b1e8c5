package dev.mexit.core

import kotlin.math.ceil

/**
 * Predicts how long the next stage would take, from this process's own
 * measurements; the same model as Python's `mexit_tf.runtime.LatencyModel`
 * (same observations in, same nanoseconds out).
 *
 * A stage *step* (its run plus the cascade's work after it) is predicted as
 * baseline x slowdown x (1 + [margin]): the baseline is the median of the
 * stage's last [window] steps once it has run [minRuns] times here; before that
 * its manifest latency, scaled as stage 0's median step compares with stage
 * 0's manifest latency (or unscaled while stage 0 has not run enough); the slowdown is the [quantile] (nearest rank) of the last
 * [window] ratios step / baseline over every stage, so it stays current through
 * stage 0, which runs on every request.
 *
 * Two parts of a request are learned apart, each as the [quantile] of its last
 * [window] observations times 1 + [margin] (0 before the first), and never enter a
 * stage's steps or the slowdown's ratios:
 * - *preparation* ([observePrepare]): from the request's start (a frame's arrival)
 *   to the moment stage 0 begins: decoding, resizing, the caller's own queueing.
 *   A slow spell there says nothing about how fast the stages run, so it must not
 *   inflate stage 0's baseline (which scales every stage not yet run [minRuns]
 *   times) or the slowdown, or deep stages would be predicted too slow to fit,
 *   never run, and never measured again;
 * - *building the answer* after the last stage ([observeFinish]).
 *
 * Defaults as Python's (quantile 0.99, margin 0), which the deadline study chose:
 * the slowdown's tail is the safety. The tail, not the mean: a busy neighbour
 * stretches a stage's p99 long before its median moves.
 *
 * Thread-safe: every method holds the model's lock (a cascade's runs observe it
 * while another thread may read a prediction for display).
 */
class LatencyModel(
    seedMillis: List<Double>,
    val window: Int = 100,
    val quantile: Double = 0.99,
    val margin: Double = 0.0,
    val minRuns: Int = 5,
) {
    private val seedNanos = seedMillis.map { maxOf((it * 1e6 + 0.5).toLong(), 1L) }
    private val steps = seedMillis.map { ArrayDeque<Long>() }
    private val ratios = ArrayDeque<Double>()
    private val finishes = ArrayDeque<Long>()
    private val prepares = ArrayDeque<Long>()

    init {
        require(seedMillis.isNotEmpty() && seedMillis.all { it.isFinite() && it > 0 }) {
            "seed latencies must be finite and > 0 ms; received $seedMillis"
        }
        require(window >= 1 && minRuns >= 1 && quantile > 0 && quantile <= 1 && margin.isFinite() && margin >= 0) {
            "LatencyModel needs window >= 1, minRuns >= 1, 0 < quantile <= 1 and margin >= 0; " +
                "received $window, $minRuns, $quantile, $margin"
        }
    }

    @Synchronized
    fun baselineNanos(stage: Int): Long = when {
        steps[stage].size >= minRuns -> nearestRank(steps[stage].sorted(), 0.5)
        stage > 0 && steps[0].size >= minRuns ->
            (seedNanos[stage].toDouble() * baselineNanos(0) / seedNanos[0]).toLong()
        else -> seedNanos[stage]
    }

    @Synchronized
    fun slowdown(): Double = if (ratios.isEmpty()) 1.0 else nearestRank(ratios.sorted(), quantile)

    /** Stage [stage]'s step took [stepNanos] (for stage 0: from the moment it began, preparation apart). */
    @Synchronized
    fun observe(stage: Int, stepNanos: Long) {
        push(ratios, stepNanos.toDouble() / baselineNanos(stage))
        push(steps[stage], stepNanos)
    }

    @Synchronized
    fun predictNanos(stage: Int): Long = (baselineNanos(stage) * slowdown() * (1.0 + margin)).toLong()

    /** Preparing a request took [prepareNanos]: from its start to stage 0's beginning. */
    @Synchronized
    fun observePrepare(prepareNanos: Long) = push(prepares, prepareNanos)

    @Synchronized
    fun predictPrepareNanos(): Long = tail(prepares)

    @Synchronized
    fun observeFinish(finishNanos: Long) = push(finishes, finishNanos)

    @Synchronized
    fun predictFinishNanos(): Long = tail(finishes)

    private fun tail(values: ArrayDeque<Long>): Long =
        if (values.isEmpty()) 0 else (nearestRank(values.sorted(), quantile) * (1.0 + margin)).toLong()

    private fun <T> push(values: ArrayDeque<T>, value: T) {
        values.addLast(value)
        if (values.size > window) values.removeFirst()
    }

    companion object {
        /** Seeded with a bundle's stage latencies (0 ms counts as 1 us), as Python's `from_manifest`. */
        fun fromManifest(manifest: Manifest) = LatencyModel(manifest.stages.map { maxOf(it.latencyMs, 1e-3) })

        /** The [q] quantile of an ascending list, nearest rank (an observed value). */
        fun <T> nearestRank(ordered: List<T>, q: Double): T = ordered[maxOf(ceil(q * ordered.size).toInt(), 1) - 1]
    }
}
