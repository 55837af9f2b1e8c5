package dev.mexit.core

/**
 * One tensor of a stage's signature. [role] says what it carries: an output's
 * `logits`, `hidden` or `audio_token` (as the manifest names it); an input's
 * follows from its name ([inputRole]).
 */
data class TensorSpec(val name: String, val role: String, val shape: List<Int>) {
    /** Elements; the contract bounds it at 2^26, so an Int holds it. */
    val size get() = shape.fold(1) { product, dimension -> product * dimension }

    companion object {
        // Tokens handed on from an earlier stage carry an `_in` suffix (a Keras
        // name must differ from the outputs'); raw inputs' roles are their names.
        private val HANDED_ON = mapOf("hidden_in" to "hidden", "audio_token_in" to "audio_token")

        fun inputRole(name: String) = HANDED_ON[name] ?: name
    }
}

/** One exported stage: its file, checksum, exit, tensors and cost, as `manifest.json` lists it. */
data class StageSpec(
    val index: Int,
    val file: String,
    val sha256: String,
    val exit: String,
    val inputShape: List<Int>,
    val latencyMs: Double,
    val macs: Double,
    val inputs: List<TensorSpec> = emptyList(),
    val outputs: List<TensorSpec> = emptyList(),
    /** The stage file's size as the manifest records it (null: not recorded). */
    val bytes: Long? = null,
)

/** A calibrated alternative the app's target picker can switch to. */
data class OperatingPoint(
    val label: String,
    val policy: ExitPolicy,
    val expectedAccuracy: Double,
    val expectedSpeedup: Double,
)

/**
 * The bundle contract (format version 1): input spec, labels, stages in order,
 * the calibrated policy and the calibration's operating points.
 */
data class Manifest(
    val formatVersion: Int,
    val inputShape: List<Int>,
    val pixelRange: Pair<Double, Double>,
    /** "image" (NHWC raw pixels) or "audio" (raw mono samples at `sampleRate`). */
    val inputKind: String = "image",
    val sampleRate: Int? = null,
    val labels: List<String>,
    val quantization: String,
    val stages: List<StageSpec>,
    val policy: ExitPolicy,
    val operatingPoints: List<OperatingPoint>,
    val expectedAccuracy: Double?,
    /** "classification" or "regression" (outputs are values, not class logits). */
    val task: String = "classification",
    /** What a stage's `logits` output holds: "logits", "value" or "mean_log_variance". */
    val output: String = "logits",
    /**
     * Operating points left out of [operatingPoints], each with why (calibration data is
     * outside the contract, so a bad one costs the picker an entry, not the bundle).
     */
    val skippedOperatingPoints: List<String> = emptyList(),
) {
    val exitNames get() = stages.map { it.exit }

    fun label(index: Int) = labels.getOrNull(index) ?: index.toString()

    companion object {
        const val FORMAT_VERSION = 1
    }
}
