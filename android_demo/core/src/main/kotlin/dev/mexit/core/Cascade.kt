package dev.mexit.core

/**
 * The dynamic-inference loop: stage after stage until [policy] accepts an exit,
 * the deadline leaves no room for the next stage, or the last stage has run.
 *
 * With [runToEnd] the policy is ignored (the app's "always run to the end"
 * switch): every stage runs, or with a deadline as many as fit. The
 * [latencyModel] starts from the manifest's latencies and learns from every run.
 */
class Cascade(
    val manifest: Manifest,
    private val runner: StageRunner,
    var policy: ExitPolicy = manifest.policy,
    var runToEnd: Boolean = false,
    private val clock: () -> Long = System::nanoTime,
    val latencyModel: LatencyModel = LatencyModel.fromManifest(manifest),
) {
    /**
     * Classifies one input; with [deadlineNanos], within that time when it can,
     * counted from [startedNanos] (default: now; the app passes the moment a
     * frame arrived, so preprocessing counts too).
     */
    fun classify(image: FloatArray, deadlineNanos: Long? = null, startedNanos: Long = clock()): CascadeResult =
        finish(start(image, deadlineNanos, startedNanos).run())

    /** The interruptible form: a run not yet stepped (its clock already runs). */
    fun start(image: FloatArray, deadlineNanos: Long? = null, startedNanos: Long = clock()): AnytimeRun {
        require(deadlineNanos == null || deadlineNanos > 0) { "a deadline must be > 0 ns; received $deadlineNanos" }
        return AnytimeRun({ index -> runner.runStage(index, image) }, manifest.stages.size, policy,
            deadlineNanos, latencyModel, clock, startedNanos, runToEnd)
    }

    /** The answer of an ended run (built once), with its deadline verdict and whole time. */
    fun finish(run: AnytimeRun): CascadeResult {
        val built = run.answer(::result)
        return built.copy(deadlineMet = run.deadlineMet, elapsedMillis = run.elapsedNanos!! / 1e6)
    }

    private fun result(run: AnytimeRun): CascadeResult {
        val index = run.outputs.size - 1
        val probabilities = Scores.softmax(run.outputs[index])
        val label = Scores.argmax(run.outputs[index])
        return CascadeResult(index, manifest.stages[index].exit, label, manifest.label(label),
            probabilities[label], run.stageMillis.toList(), run.stoppedBy!!)
    }
}
