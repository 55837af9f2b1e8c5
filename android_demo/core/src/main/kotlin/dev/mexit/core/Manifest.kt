package dev.mexit.core

/** One exported stage: its file, checksum, exit and cost, as `manifest.json` lists it. */
data class StageSpec(
    val index: Int,
    val file: String,
    val sha256: String,
    val exit: String,
    val inputShape: List<Int>,
    val latencyMs: Double,
    val macs: Double,
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
) {
    val exitNames get() = stages.map { it.exit }

    fun label(index: Int) = labels.getOrNull(index) ?: index.toString()

    companion object {
        const val FORMAT_VERSION = 1
    }
}
