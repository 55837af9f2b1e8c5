package dev.mexit.core

import java.util.concurrent.Semaphore
import java.util.concurrent.atomic.AtomicBoolean

/**
 * The dynamic-inference loop: stage after stage until [policy] accepts an exit,
 * the deadline leaves no room for the next stage, or the last stage has run.
 *
 * With [runToEnd] the policy is ignored (the app's "always run to the end"
 * switch): every stage runs, or with a deadline as many as fit. The
 * [latencyModel] starts from the manifest's latencies and learns from every run.
 *
 * One owner for the state a run touches (the runner's buffers, which stage k
 * leaves for stage k+1): a cascade runs one input at a time. A run holds the
 * cascade from [start] until it ends (its last [AnytimeRun.step], [AnytimeRun.close],
 * or a stage that threw); [classify] from several threads is safe (callers wait their
 * turn) and gives each the answer it would get alone. A thread that starts a second
 * run while its own first has not ended gets an [IllegalStateException] at once (it
 * would otherwise wait for itself, or interleave two runs on one set of buffers).
 * [policy] and [runToEnd] may be changed from any thread; a run uses the values it
 * started with. The cascade owns [runner]: [close] (idempotent) waits for a run in
 * progress on another thread to end, then closes the runner; later runs are refused.
 */
class Cascade(
    val manifest: Manifest,
    private val runner: StageRunner,
    policy: ExitPolicy = manifest.policy,
    runToEnd: Boolean = false,
    private val clock: () -> Long = System::nanoTime,
    val latencyModel: LatencyModel = LatencyModel.fromManifest(manifest),
) : AutoCloseable {
    @Volatile
    var policy: ExitPolicy = policy

    @Volatile
    var runToEnd: Boolean = runToEnd

    private val turn = Semaphore(1, true)
    private val closed = AtomicBoolean(false)
    /** The thread whose run holds the cascade, and that run (null: none). */
    @Volatile
    private var owner: Thread? = null
    @Volatile
    private var active: AnytimeRun? = null

    /**
     * Classifies one input; with [deadlineNanos], within that time when it can,
     * counted from [startedNanos] (default: now; the app passes the moment a
     * frame arrived, so preprocessing counts too).
     */
    fun classify(image: FloatArray, deadlineNanos: Long? = null, startedNanos: Long = clock()): CascadeResult {
        val run = start(image, deadlineNanos, startedNanos)
        try {
            run.run()
        } finally {
            run.close()  // a stage that threw has ended the run already; this makes sure
        }
        return finish(run)
    }

    /**
     * The interruptible form: a run not yet stepped (its clock already runs). It holds
     * the cascade until it ends: step it to the end ([AnytimeRun.run]) or [AnytimeRun.close] it.
     */
    fun start(image: FloatArray, deadlineNanos: Long? = null, startedNanos: Long = clock()): AnytimeRun {
        require(deadlineNanos == null || deadlineNanos > 0) { "a deadline must be > 0 ns; received $deadlineNanos" }
        val me = Thread.currentThread()
        if (owner === me) {
            throw IllegalStateException("this thread's earlier run of the cascade has not ended; step it to the " +
                "end or close() it before starting another (runs of one cascade share the runner's buffers " +
                "and cannot interleave)")
        }
        turn.acquire()
        if (closed.get()) {
            turn.release()
            throw IllegalStateException("the cascade is closed")
        }
        owner = me
        val run = AnytimeRun({ index -> runner.runStage(index, image) }, manifest.stages.size, policy,
            deadlineNanos, latencyModel, clock, startedNanos, runToEnd, onEnd = ::release)
        active = run
        return run
    }

    private fun release() {
        active = null
        owner = null
        turn.release()
    }

    /** The answer of an ended run (built once), with its deadline verdict and whole time. */
    fun finish(run: AnytimeRun): CascadeResult {
        val built = run.answer(::result)
        return built.copy(deadlineMet = run.deadlineMet, elapsedMillis = run.elapsedNanos!! / 1e6)
    }

    private fun result(run: AnytimeRun): CascadeResult {
        val index = run.outputs.size - 1
        val output = run.outputs[index]
        if (manifest.task == "regression") {
            val value = output[0]
            return CascadeResult(index, manifest.stages[index].exit, -1, String.format(java.util.Locale.ROOT, "%.4g", value), Double.NaN,
                run.stageMillis.toList(), run.stoppedBy!!, value = value)
        }
        val probabilities = Scores.softmax(output)
        val label = Scores.argmax(output)
        return CascadeResult(index, manifest.stages[index].exit, label, manifest.label(label),
            probabilities[label], run.stageMillis.toList(), run.stoppedBy!!)
    }

    val isClosed get() = closed.get()

    override fun close() {
        if (!closed.compareAndSet(false, true)) return
        if (owner === Thread.currentThread()) active?.close()  // our own unfinished run ends here
        turn.acquireUninterruptibly()  // a run on another thread finishes first
        try {
            runner.close()
        } finally {
            turn.release()
        }
    }
}
