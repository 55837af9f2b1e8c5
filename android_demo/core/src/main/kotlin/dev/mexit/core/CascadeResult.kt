package dev.mexit.core

/**
 * What one input cost and where it left: exit index and name, label, confidence,
 * per-stage ms; why the run ended, whether it met its deadline (null without
 * one) and the whole call's ms. A regression bundle answers [value]
 * (then [label] is it in words, [labelIndex] -1 and [confidence] NaN).
 */
data class CascadeResult(
    val exitIndex: Int,
    val exitName: String,
    val labelIndex: Int,
    val label: String,
    val confidence: Double,
    val stageMillis: List<Double>,
    val stoppedBy: StoppedBy = StoppedBy.POLICY,
    val deadlineMet: Boolean? = null,
    val elapsedMillis: Double = stageMillis.sum(),
    /** A regression bundle's answer (the exit's value or mean); null for classification. */
    val value: Double? = null,
) {
    val totalMillis get() = stageMillis.sum()
}
