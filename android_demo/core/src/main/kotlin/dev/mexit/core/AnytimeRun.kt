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
 * any thread) is the deepest exit computed so far. [close] ends a run that will not be
 * stepped further (idempotent). [clock] gives nanoseconds (injected in tests).
 *
 * Time is counted in pieces that tile the run, each learned by [latencyModel]:
 * *preparation*, from [startedNanos] (a frame's arrival) to the moment stage 0 begins
 * (`observePrepare`); step 0, from then to the end of stage 0; step k, from the end of
 * step k-1 to the end of stage k (`observe`); and the last decisions plus building the
 * answer ([answer], `observeFinish`). The deadline counts from [startedNanos], so
 * preparation uses it up, but it never makes a stage look slower.
 *
 * [onEnd] runs once, on the thread that ends the run (the last [step], [close], or a
 * stage that threw): a [Cascade] releases its lock there.
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
    private val onEnd: () -> Unit = {},
) : AutoCloseable {
    init {
        require(deadlineNanos == null || latencyModel != null) { "a deadline needs a latency model" }
    }

    private val interrupted = AtomicBoolean(false)
    private val ended = AtomicBoolean(false)
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
        try {
            return advance()
        } catch (error: Throwable) {
            // A stage (or the policy) failed: the run is over, and whoever waits for
            // the cascade must not wait for it.
            if (!done) finish(StoppedBy.INTERRUPTED)
            throw error
        }
    }

    private fun advance(): Boolean {
        val index = outputs.size
        if (index > 0 && interrupted.get()) return finish(StoppedBy.INTERRUPTED)
        val begun = clock()
        if (index == 0) {
            // Preparation is learned apart: a slow spell there must not look like slow stages.
            latencyModel?.observePrepare(begun - startedNanos)
            lastNanos = begun
        }
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
        if (ended.compareAndSet(false, true)) onEnd()
        return false
    }

    /** Ends the run where it is (idempotent); a run closed before stage 0 answered has no answer. */
    override fun close() {
        if (!done) finish(StoppedBy.INTERRUPTED)
    }

    /** Builds the answer of the ended run once with [build]; times the building and learns it. */
    @Suppress("UNCHECKED_CAST")
    fun <T> answer(build: (AnytimeRun) -> T): T = synchronized(lock) {
        check(done) { "the run has not ended; call run() or step() first" }
        check(outputs.isNotEmpty()) { "the run ended before stage 0 answered; it has no answer" }
        if (answer == null) {
            val built = build(this)
            val finished = clock()
            elapsedNanos = finished - startedNanos
            latencyModel?.observeFinish(finished - lastNanos)
            answer = built
        }
        answer as T
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
