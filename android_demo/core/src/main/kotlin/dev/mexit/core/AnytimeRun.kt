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
 * without it); stage k+1 only if, with a deadline, the time so far plus
 * [latencyModel]'s predictions for stage k+1 and for building the answer fit
 * in it (asked first), and the policy has not accepted stage k's exit. [stop] (from any
 * thread, e.g. a frame timer) ends the run before the next stage; [best] (from
 * any thread) is the deepest exit computed so far. Steps tile the run (step k
 * lasts from the end of step k-1, or the start, to the end of stage k);
 * [answer] times the last decisions and the building of the answer. [clock] gives
 * nanoseconds (injected in tests).
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
    private var lastNanos = startedNanos
    private var answer: Any? = null

    @Volatile
    var stoppedBy: StoppedBy? = null
        private set
    /** From the start to the built answer; null until [answer] has run. */
    var elapsedNanos: Long? = null
        private set

    val done get() = stoppedBy != null

    /** Whether the answer was ready within the deadline; null without one or before [answer]. */
    val deadlineMet get() = deadlineNanos?.let { deadline -> elapsedNanos?.let { it <= deadline } }

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
        // Step k ends here and is learned at once, so the check below already knows it;
        // the decisions after this point belong to the next step, or to the answer.
        val ended = clock()
        latencyModel?.observe(index, ended - lastNanos)
        lastNanos = ended
        if (index == numStages - 1) return finish(StoppedBy.LAST_STAGE)
        // The deadline is asked first: when the next stage cannot fit, the policy's
        // verdict changes nothing, and skipping it saves the time it would cost.
        if (deadlineNanos != null && ended - startedNanos + latencyModel!!.predictNanos(index + 1) +
            latencyModel.predictFinishNanos() > deadlineNanos) return finish(StoppedBy.DEADLINE)
        if (!runToEnd && policy.shouldStop(outputs)) return finish(StoppedBy.POLICY)
        if (interrupted.get()) return finish(StoppedBy.INTERRUPTED)
        return true
    }

    private fun finish(reason: StoppedBy): Boolean {
        stoppedBy = reason
        return false
    }

    /** Builds the answer of the ended run once with [build]; times the building and learns it. */
    @Suppress("UNCHECKED_CAST")
    fun <T> answer(build: (AnytimeRun) -> T): T {
        check(done) { "the run has not ended; call run() or step() first" }
        if (answer == null) {
            val built = build(this)
            val finished = clock()
            elapsedNanos = finished - startedNanos
            latencyModel?.observeFinish(finished - lastNanos)
            answer = built
        }
        return answer as T
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
