package dev.mexit.core

/** What one image cost and where it left: exit index and name, label, confidence, per-stage ms. */
data class CascadeResult(
    val exitIndex: Int,
    val exitName: String,
    val labelIndex: Int,
    val label: String,
    val confidence: Double,
    val stageMillis: List<Double>,
) {
    val totalMillis get() = stageMillis.sum()
}
