package dev.mexit.demo

import android.app.Application
import android.util.Log
import androidx.camera.core.ImageProxy
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
import kotlinx.coroutines.flow.update
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/** Where loading the bundle stands: [fraction] of the work done, [step] in words. */
data class Loading(val fraction: Float, val step: String)

/**
 * What the screens show. [loading] is set until the bundle is checked and
 * compiled; [error] is set when it was refused (nothing runs then).
 */
data class DemoState(
    val loading: Loading? = Loading(0f, "Opening the bundle"),
    val manifest: Manifest? = null,
    val error: String? = null,
    val last: CascadeResult? = null,
    val runToEnd: Boolean = false,
    val invert: Boolean = true,
    val operatingPoint: OperatingPoint? = null,
    /** Each frame's answer is due this long after the frame arrived (null: no deadline). */
    val frameDeadlineMs: Double? = null,
    val missRate: Double = 0.0,
    val histogram: Map<String, Double> = emptyMap(),
    val p50Millis: Double = 0.0,
    val p95Millis: Double = 0.0,
    val saving: Double = 0.0,
    /** Frames since the last change of settings. */
    val count: Int = 0,
    /** How many of the latest frames the statistics above describe (a bounded window). */
    val windowCount: Int = 0,
)

/**
 * Owns the bundle's runtime. One single-threaded executor, [inferenceExecutor],
 * creates the LiteRT runner, runs every frame (the camera analyzer is given
 * this executor), applies setting changes and finally closes the cascade (which
 * owns and closes the runner): the native models are never used from two threads,
 * never closed during a run, and the cascade's policy, run-to-end switch and
 * statistics have one owner. The statistics cover the last [STATS_WINDOW] frames
 * (bounded memory, O(1) per frame). The UI reads [state], a StateFlow updated
 * atomically from that thread.
 */
class DemoViewModel(application: Application) : AndroidViewModel(application) {
    private val _state = MutableStateFlow(DemoState())
    val state: StateFlow<DemoState> = _state.asStateFlow()
    val inferenceExecutor: ExecutorService =
        Executors.newSingleThreadExecutor { task -> Thread(task, "mexit-inference") }

    // Touched on inferenceExecutor only.
    private var cascade: Cascade? = null
    private var stats: CascadeStats? = null
    private var invert = true
    private var frameDeadlineNanos: Long? = null

    init {
        inferenceExecutor.execute(::load)
    }

    private fun load() {
        try {
            // Half the bar for checking the stages' checksums, half for compiling them.
            val manifest = BundleAssets.load(getApplication()) { index, count ->
                progress(0.5f * (index + 1) / count, "Checked stage ${index + 1} of $count")
            }
            if (manifest.inputKind != "image") {
                throw BundleException("this demo feeds camera frames; the bundle takes " +
                    "${manifest.inputKind} input")
            }
            val shape = manifest.inputShape
            if (shape.size != 4 || shape[0] != 1 || shape[3] !in listOf(1, 3)) {
                throw BundleException("this demo feeds one grayscale or RGB frame (input shape [1, H, W, 1 or 3]); " +
                    "the bundle takes $shape")
            }
            if (manifest.task != "classification") {
                throw BundleException("this demo shows class labels; the bundle is a ${manifest.task} model")
            }
            manifest.skippedOperatingPoints.forEach { Log.w(TAG, "operating point left out: $it") }
            val count = manifest.stages.size
            // A runner that fails half-built has closed what it opened before this throws.
            val runner = LiteRtStageRunner(getApplication<Application>().assets, manifest) { index ->
                progress(0.5f + 0.5f * (index + 1) / count, "Compiled stage ${index + 1} of $count")
            }
            val built = try {
                Cascade(manifest, runner)  // owns the runner from here on
            } catch (error: Exception) {
                runner.close()
                throw error
            }
            cascade = built
            stats = newStats(manifest)
            _state.update { it.copy(loading = null, manifest = manifest) }
        } catch (error: BundleException) {
            refuse("Bundle refused: ${error.message}")
        } catch (error: Exception) {
            refuse("Bundle could not be loaded: ${error.message}")
        }
    }

    private fun progress(fraction: Float, step: String) =
        _state.update { it.copy(loading = Loading(fraction, step)) }

    private fun refuse(message: String) {
        Log.e(TAG, message)
        _state.update { it.copy(loading = null, error = message) }
    }

    private fun newStats(manifest: Manifest) =
        CascadeStats(manifest.exitNames, manifest.stages.sumOf { it.latencyMs }, STATS_WINDOW)

    /** The camera analyzer; CameraX calls it on [inferenceExecutor]. Always closes the frame. */
    fun analyze(frame: ImageProxy) {
        // The frame deadline counts from here: conversion and preprocessing use it up too.
        val arrived = System.nanoTime()
        frame.use {
            val cascade = cascade ?: return  // still loading, refused, or closed
            val bitmap = Preprocessing.upright(it.toBitmap(), it.imageInfo.rotationDegrees)
            val input = Preprocessing.toInput(bitmap, cascade.manifest, invert)
            val result = try {
                cascade.classify(input, frameDeadlineNanos, startedNanos = arrived)
            } catch (error: Exception) {
                // LiteRT failed on this bundle: say so once and stop analysing, rather than
                // crash the inference thread on every frame.
                this.cascade = null
                runCatching { cascade.close() }.onFailure { Log.w(TAG, "closing after a failure: ${it.message}") }
                refuse("Inference failed: ${error.message}")
                return
            }
            val stats = stats!!.also { s -> s.add(result) }
            _state.update { state ->
                state.copy(last = result, histogram = stats.histogram(),
                    p50Millis = stats.percentile(50.0), p95Millis = stats.percentile(95.0),
                    saving = stats.saving(), count = stats.count, windowCount = stats.windowCount,
                    missRate = stats.missRate())
            }
        }
    }

    /** Answers each frame within [millis] of its arrival (null: no deadline). */
    fun setFrameDeadline(millis: Double?) = inferenceExecutor.execute {
        frameDeadlineNanos = millis?.let { (it * 1e6).toLong() }
        resetStats()
        _state.update { it.copy(frameDeadlineMs = millis) }
    }

    fun setRunToEnd(enabled: Boolean) = inferenceExecutor.execute {
        cascade?.runToEnd = enabled
        resetStats()
        _state.update { it.copy(runToEnd = enabled) }
    }

    fun setInvert(enabled: Boolean) = inferenceExecutor.execute {
        invert = enabled
        _state.update { it.copy(invert = enabled) }
    }

    /** Switches to a calibrated operating point from the manifest (null: the bundle's policy). */
    fun choose(point: OperatingPoint?) = inferenceExecutor.execute {
        val cascade = cascade ?: return@execute
        cascade.policy = point?.policy ?: cascade.manifest.policy
        resetStats()
        _state.update { it.copy(operatingPoint = point) }
    }

    private fun resetStats() {
        val manifest = cascade?.manifest ?: return
        stats = newStats(manifest)
        _state.update {
            it.copy(histogram = emptyMap(), count = 0, windowCount = 0, p50Millis = 0.0, p95Millis = 0.0,
                saving = 0.0, missRate = 0.0)
        }
    }

    override fun onCleared() {
        // Queued after any frame in progress; by now the Live screen has cleared its
        // analyzer and unbound the camera (its composition is gone), so no frame follows.
        inferenceExecutor.execute {
            val closing = cascade
            cascade = null
            // Closes the runner: buffers, models, then the environment.
            runCatching { closing?.close() }.onFailure { Log.w(TAG, "closing the bundle: ${it.message}") }
        }
        inferenceExecutor.shutdown()
    }

    companion object {
        const val TAG = "mexit"

        /** Frames the statistics screen describes (the latest ones). */
        const val STATS_WINDOW = 1000
    }
}
