package dev.mexit.jvm

import dev.mexit.core.Manifest
import dev.mexit.core.StageRunner
import dev.mexit.core.StageWiring
import java.io.File

/**
 * The core's [StageRunner] on the JVM, over LiteRT's C API: one CompiledModel
 * per stage in one shared environment. What a stage hands on (`hidden`,
 * `audio_token`) is wired once, at load, from the output buffer of the stage
 * that last produced it to the next stage's input: tokens stay in LiteRT
 * memory, and only logits come back to Kotlin, as in the Android app's
 * `LiteRtStageRunner`.
 *
 * Example:
 * ```
 * val manifest = BundleLoader.load(folder)
 * JvmStageRunner(folder, manifest).use { Cascade(manifest, it).classify(pixels) }
 * ```
 */
class JvmStageRunner(folder: File, manifest: Manifest, threads: Int = 1) : StageRunner {
    private val environment = LiteRtNative.createEnvironment()
    private val stages = ArrayList<CompiledStage>()
    private val rawInput: String
    private var closed = false

    init {
        try {
            val wiring = StageWiring(manifest)
            rawInput = wiring.rawInput.role
            for (spec in manifest.stages) {
                val stage = CompiledStage(environment, File(folder, spec.file), spec, threads)
                stages.add(stage)
                for ((input, source) in wiring.sources[spec.index]) {
                    stage.bind(input, stages[source.stage], source.output.name)
                }
            }
        } catch (error: Exception) {
            close()
            throw error
        }
    }

    override fun runStage(index: Int, image: FloatArray): FloatArray {
        if (index == 0) stages[0].write(rawInput, image)
        return stages[index].run()
    }

    override fun close() {
        if (closed) return
        closed = true
        stages.forEach { it.close() }
        stages.clear()
        LiteRtNative.destroyEnvironment(environment)
    }
}
