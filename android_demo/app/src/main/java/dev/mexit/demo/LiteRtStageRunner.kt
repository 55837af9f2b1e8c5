package dev.mexit.demo

import android.content.res.AssetManager
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment
import com.google.ai.edge.litert.TensorBuffer
import dev.mexit.core.Manifest
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
 * Not thread-safe: create, run and close it on one thread (the view model's
 * inference executor). [onStageReady] reports each compiled stage (for progress).
 */
class LiteRtStageRunner(
    assets: AssetManager,
    manifest: Manifest,
    accelerator: Accelerator = Accelerator.CPU,
    onStageReady: (Int) -> Unit = {},
) : StageRunner {
    private val environment = Environment.create()
    private val models = ArrayList<CompiledModel>()
    private val outputs = ArrayList<Map<String, TensorBuffer>>()
    private val inputs = ArrayList<Map<String, TensorBuffer>>()
    private val owned = ArrayList<TensorBuffer>()
    private val logitsNames = manifest.stages.map { stage -> stage.outputs.first { it.role == "logits" }.name }
    private val rawInput: TensorBuffer

    init {
        try {
            val wiring = StageWiring(manifest)
            for (stage in manifest.stages) {
                val model = CompiledModel.create(assets, "bundle/${stage.file}",
                    CompiledModel.Options(accelerator), environment)
                models.add(model)
                outputs.add(stage.outputs.associate { it.name to model.createOutputBuffer(it.name) })
                owned.addAll(outputs.last().values)
                inputs.add(stage.inputs.associate { input ->
                    val source = wiring.sources[stage.index][input.name]
                    input.name to (source?.let { outputs[it.stage].getValue(it.output.name) }
                        ?: model.createInputBuffer(input.name).also(owned::add))
                })
                onStageReady(stage.index)
            }
            rawInput = inputs[0].getValue(wiring.rawInput.name)
        } catch (error: Exception) {
            close()
            throw error
        }
    }

    override fun runStage(index: Int, image: FloatArray): FloatArray {
        if (index == 0) rawInput.writeFloat(image)
        models[index].run(inputs[index], outputs[index])
        return outputs[index].getValue(logitsNames[index]).readFloat()
    }

    override fun close() {
        owned.forEach { it.close() }
        owned.clear()
        models.forEach { it.close() }
        models.clear()
        environment.close()
    }
}
