package dev.mexit.demo

import android.content.res.AssetManager
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment
import com.google.ai.edge.litert.TensorBuffer
import dev.mexit.core.Manifest
import dev.mexit.core.StageRunner

/**
 * The app's [StageRunner]: one LiteRT CompiledModel per stage.
 *
 * Stage k's `hidden` output buffer *is* stage k+1's input buffer, so the
 * tokens stay in LiteRT memory between stages; only the logits (a few floats)
 * are read back into Kotlin for the policy.
 */
class LiteRtStageRunner(
    assets: AssetManager,
    manifest: Manifest,
    accelerator: Accelerator = Accelerator.CPU,
) : StageRunner {
    private val environment = Environment.create()
    private val models = manifest.stages.map { stage ->
        CompiledModel.create(assets, "bundle/${stage.file}", CompiledModel.Options(accelerator),
            environment)
    }
    private val outputs: List<List<TensorBuffer>> = models.map { it.createOutputBuffers() }
    private val imageInput: List<TensorBuffer> = models.first().createInputBuffers()

    // Output order per stage follows the manifest: logits first, hidden second.
    private val inputs: List<List<TensorBuffer>> = models.indices.map { index ->
        if (index == 0) imageInput else listOf(outputs[index - 1][1])
    }

    override fun runStage(index: Int, image: FloatArray): FloatArray {
        if (index == 0) imageInput[0].writeFloat(image)
        models[index].run(inputs[index], outputs[index])
        return outputs[index][0].readFloat()
    }

    override fun close() {
        (outputs.flatten() + imageInput).forEach { it.close() }
        models.forEach { it.close() }
        environment.close()
    }
}
