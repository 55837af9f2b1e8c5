package dev.mexit.core

/**
 * The dynamic-inference loop: stage after stage until [policy] accepts an exit.
 *
 * With [runToEnd] every stage runs (the app's "always run to the end" switch),
 * and the answer is the final exit's.
 */
class Cascade(
    val manifest: Manifest,
    private val runner: StageRunner,
    var policy: ExitPolicy = manifest.policy,
    var runToEnd: Boolean = false,
    private val clock: () -> Long = System::nanoTime,
) {
    fun classify(image: FloatArray): CascadeResult {
        val outputs = ArrayList<DoubleArray>(manifest.stages.size)
        val millis = ArrayList<Double>(manifest.stages.size)
        for (index in manifest.stages.indices) {
            val started = clock()
            val logits = runner.runStage(index, image)
            millis.add((clock() - started) / 1e6)
            outputs.add(DoubleArray(logits.size) { logits[it].toDouble() })
            val last = index == manifest.stages.size - 1
            if (last || (!runToEnd && policy.shouldStop(outputs))) {
                val probabilities = Scores.softmax(outputs[index])
                val label = Scores.argmax(outputs[index])
                return CascadeResult(index, manifest.stages[index].exit, label,
                    manifest.label(label), probabilities[label], millis)
            }
        }
        error("a bundle has at least one stage")
    }
}
