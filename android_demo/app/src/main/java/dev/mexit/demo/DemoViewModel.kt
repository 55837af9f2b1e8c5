package dev.mexit.demo

import android.app.Application
import android.graphics.Bitmap
import android.util.Log
import androidx.lifecycle.AndroidViewModel
import dev.mexit.core.BundleException
import dev.mexit.core.Cascade
import dev.mexit.core.CascadeResult
import dev.mexit.core.CascadeStats
import dev.mexit.core.Manifest
import dev.mexit.core.OperatingPoint
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow

/** What the screens show. [error] is set when the bundle was refused; nothing runs then. */
data class DemoState(
    val manifest: Manifest? = null,
    val error: String? = null,
    val last: CascadeResult? = null,
    val runToEnd: Boolean = false,
    val operatingPoint: OperatingPoint? = null,
    val histogram: Map<String, Double> = emptyMap(),
    val p50Millis: Double = 0.0,
    val p95Millis: Double = 0.0,
    val saving: Double = 0.0,
    val count: Int = 0,
)

class DemoViewModel(application: Application) : AndroidViewModel(application) {
    private val _state = MutableStateFlow(DemoState())
    val state: StateFlow<DemoState> = _state.asStateFlow()
    private var cascade: Cascade? = null
    private var runner: LiteRtStageRunner? = null
    private var stats: CascadeStats? = null

    init {
        try {
            val manifest = BundleAssets.load(application)
            if (manifest.inputKind != "image") {
                throw BundleException("this demo feeds camera frames; the bundle takes " +
                    "${manifest.inputKind} input")
            }
            runner = LiteRtStageRunner(application.assets, manifest)
            cascade = Cascade(manifest, runner!!)
            stats = newStats(manifest)
            _state.value = DemoState(manifest = manifest)
        } catch (error: BundleException) {
            refuse("Bundle refused: ${error.message}")
        } catch (error: Exception) {
            refuse("Bundle could not be loaded: ${error.message}")
        }
    }

    private fun refuse(message: String) {
        Log.e(TAG, message)
        _state.value = DemoState(error = message)
    }

    private fun newStats(manifest: Manifest) =
        CascadeStats(manifest.exitNames, manifest.stages.sumOf { it.latencyMs })

    /** Runs one frame through the cascade; called off the main thread by the analyzer. */
    fun classify(bitmap: Bitmap, invert: Boolean) {
        val cascade = cascade ?: return
        val input = Preprocessing.toInput(bitmap, cascade.manifest, invert)
        val result = cascade.classify(input)
        val stats = stats!!.also { it.add(result) }
        _state.value = _state.value.copy(last = result, histogram = stats.histogram(),
            p50Millis = stats.percentile(50.0), p95Millis = stats.percentile(95.0),
            saving = stats.saving(), count = stats.count)
    }

    fun setRunToEnd(enabled: Boolean) {
        cascade?.runToEnd = enabled
        resetStats()
        _state.value = _state.value.copy(runToEnd = enabled)
    }

    /** Switches to a calibrated operating point from the manifest (null: the bundle's policy). */
    fun choose(point: OperatingPoint?) {
        val cascade = cascade ?: return
        cascade.policy = point?.policy ?: cascade.manifest.policy
        resetStats()
        _state.value = _state.value.copy(operatingPoint = point)
    }

    private fun resetStats() {
        val manifest = cascade?.manifest ?: return
        stats = newStats(manifest)
        _state.value = _state.value.copy(histogram = emptyMap(), count = 0, p50Millis = 0.0,
            p95Millis = 0.0, saving = 0.0)
    }

    override fun onCleared() {
        runner?.close()
    }

    companion object {
        const val TAG = "mexit"
    }
}
