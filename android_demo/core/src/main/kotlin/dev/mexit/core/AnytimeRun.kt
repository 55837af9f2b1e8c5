package dev.mexit.core

import java.util.concurrent.atomic.AtomicBoolean

/** Why a run ended; the same words as Python's `stopped_by`. */
enum class StoppedBy(val word: String) {
    POLICY("policy"), DEADLINE("deadline"), LAST_STAGE("last_stage"), INTERRUPTED("interrupted")
}

/**
 * One input's way through the stages, stoppable between any two of them; the
 * semantics of Python's `mexit_tf.runtime.AnytimeRun`.
 *
 * [step] runs the next stage when it may: stage 0 always (there is no answer
 * without it); stage k+1 only if the policy has not accepted stage k's exit
 * and, with a deadline, if [latencyModel]'s prediction for it fits in the time
 * left. [stop] (from any thread, e.g. a frame timer) ends the run before the
 * next stage; [best] (from any thread) is the deepest exit computed so far.
 * [clock] gives nanoseconds (injected in tests).
 */
class AnytimeRun(
    private val runStage: (Int) -> FloatArray,
    private val numStages: Int,
    private val policy: ExitPolicy,
    private val deadlineNanos: Long? = null,
    private val latencyModel: LatencyModel? = null,
    private val clock: () -> Long = System::nanoTime,
    val startedNanos: Long = clock(),
    private val runToEnd: Boolean = false,
) {
    init {
        require(deadlineNanos == null || latencyModel != null) { "a deadline needs a latency model" }
    }

    private val interrupted = AtomicBoolean(false)
    private val lock = Any()
    val outputs = ArrayList<DoubleArray>()
    val stageMillis = ArrayList<Double>()

    @Volatile
    var stoppedBy: StoppedBy? = null
        private set
    var elapsedNanos: Long = 0
        private set

    val done get() = stoppedBy != null

    /** Whether the answer came within the deadline; null without one. */
    val deadlineMet get() = deadlineNanos?.let { elapsedNanos <= it }

    fun stop() = interrupted.set(true)

    /** Runs the next stage if it may; returns whether the run goes on. */
    fun step(): Boolean {
        if (done) return false
        val index = outputs.size
        if (index > 0 && interrupted.get()) return finish(StoppedBy.INTERRUPTED)
        val begun = clock()
        val logits = runStage(index)
        synchronized(lock) {
            outputs.add(DoubleArray(logits.size) { logits[it].toDouble() })
            stageMillis.add((clock() - begun) / 1e6)
        }
        val last = index == numStages - 1
        val accepted = !last && !runToEnd && policy.shouldStop(outputs)
        val ended = clock()
        latencyModel?.observe(index, ended - begun)
        return when {
            last -> finish(StoppedBy.LAST_STAGE)
            accepted -> finish(StoppedBy.POLICY)
            deadlineNanos != null && ended - startedNanos + latencyModel!!.predictNanos(index + 1) > deadlineNanos ->
                finish(StoppedBy.DEADLINE)
            interrupted.get() -> finish(StoppedBy.INTERRUPTED)
            else -> true
        }
    }

    private fun finish(reason: StoppedBy): Boolean {
        elapsedNanos = clock() - startedNanos
        stoppedBy = reason
        return false
    }

    /** Steps until the run ends. */
    fun run(): AnytimeRun {
        while (step()) continue
        return this
    }

    /** The deepest exit computed so far as (index, logits), or null before stage 0 finished. */
    fun best(): Pair<Int, DoubleArray>? = synchronized(lock) {
        if (outputs.isEmpty()) null else outputs.size - 1 to outputs.last()
    }
}
