package dev.mexit.demo

import android.content.res.AssetManager
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment
import com.google.ai.edge.litert.TensorBuffer
import dev.mexit.core.BundleException
import dev.mexit.core.Manifest
import dev.mexit.core.StageFileVerifier
import dev.mexit.core.StageRunner
import dev.mexit.core.StageWiring

/**
 * The app's [StageRunner]: one LiteRT CompiledModel per stage, in one Environment.
 *
 * Inputs and outputs are matched by name, as the manifest lists them
 * ([StageWiring]): the output buffer a stage hands on (`hidden`, `audio_token`)
 * *is* the next stage's input buffer, so the tokens stay in LiteRT memory
 * between stages; only the logits (a few floats) are read back into Kotlin.
 * Mirrors the JVM runner (android_demo/jvm) and Python's `CompiledStage`.
 *
 * Everything native it makes (the Environment, each CompiledModel, each buffer it
 * owns) is recorded as it is made, so a runner that fails half-built (a stage LiteRT
 * refuses, a tensor the model lacks) closes exactly what it opened, newest first,
 * before the error leaves the constructor; [close] does the same and is idempotent.
 *
 * Not thread-safe on its own: the [dev.mexit.core.Cascade] that owns it runs one input
 * at a time and closes it ([onStageReady] reports each compiled stage, for progress).
 */
class LiteRtStageRunner(
    assets: AssetManager,
    manifest: Manifest,
    accelerator: Accelerator = Accelerator.CPU,
    onStageReady: (Int) -> Unit = {},
) : StageRunner {
    /** How to release what was opened, in the order it was opened. */
    private val opened = ArrayList<() -> Unit>()
    private val models = ArrayList<CompiledModel>()
    private val outputs = ArrayList<Map<String, TensorBuffer>>()
    private val inputs = ArrayList<Map<String, TensorBuffer>>()
    private val logitsNames: List<String>
    private val rawInput: TensorBuffer
    private var closed = false

    init {
        try {
            // Checks that need nothing native come first.
            val wiring = StageWiring(manifest)
            logitsNames = manifest.stages.map { stage ->
                stage.outputs.firstOrNull { it.role == "logits" }?.name
                    ?: throw BundleException("stage ${stage.file} has no logits output")
            }
            val environment = Environment.create()
            opened.add { environment.close() }
            for (stage in manifest.stages) {
                // Nothing unverified reaches LiteRT: a malformed stage file crashes it.
                val bytes = assets.open("bundle/${stage.file}").use { it.readBytes() }
                StageFileVerifier.verify(bytes, stage)
                val model = CompiledModel.create(assets, "bundle/${stage.file}",
                    CompiledModel.Options(accelerator), environment)
                opened.add { model.close() }
                models.add(model)
                val produced = LinkedHashMap<String, TensorBuffer>()
                for (output in stage.outputs) {
                    val buffer = model.createOutputBuffer(output.name)
                    opened.add { buffer.close() }
                    produced[output.name] = buffer
                }
                outputs.add(produced)
                val consumed = LinkedHashMap<String, TensorBuffer>()
                for (input in stage.inputs) {
                    val source = wiring.sources[stage.index][input.name]
                    consumed[input.name] = if (source != null) {
                        outputs[source.stage].getValue(source.output.name)  // owned by its producer
                    } else {
                        model.createInputBuffer(input.name).also { buffer -> opened.add { buffer.close() } }
                    }
                }
                inputs.add(consumed)
                onStageReady(stage.index)
            }
            rawInput = inputs[0].getValue(wiring.rawInput.name)
        } catch (error: Throwable) {
            close()
            throw error
        }
    }

    override fun runStage(index: Int, image: FloatArray): FloatArray {
        check(!closed) { "the runner is closed" }
        if (index == 0) rawInput.writeFloat(image)
        models[index].run(inputs[index], outputs[index])
        return outputs[index].getValue(logitsNames[index]).readFloat()
    }

    /** Releases buffers, then models, then the environment (newest first); idempotent. */
    override fun close() {
        if (closed) return
        closed = true
        var failure: Throwable? = null
        for (release in opened.asReversed()) {
            try {
                release()
            } catch (error: Throwable) {
                if (failure == null) failure = error else failure.addSuppressed(error)
            }
        }
        opened.clear()
        models.clear()
        outputs.clear()
        inputs.clear()
        failure?.let { throw it }
    }
}
