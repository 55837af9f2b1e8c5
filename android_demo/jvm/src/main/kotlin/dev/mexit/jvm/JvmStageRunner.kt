package dev.mexit.jvm

import dev.mexit.core.BundleException
import dev.mexit.core.BundleLoader
import dev.mexit.core.Manifest
import dev.mexit.core.StageFileVerifier
import dev.mexit.core.StageRunner
import dev.mexit.core.StageSpec
import dev.mexit.core.StageWiring
import java.io.File
import java.io.IOException

/**
 * The core's [StageRunner] on the JVM, over LiteRT's C API: one CompiledModel
 * per stage in one shared environment. What a stage hands on (`hidden`,
 * `audio_token`) is wired once, at load, from the output buffer of the stage
 * that last produced it to the next stage's input: tokens stay in LiteRT
 * memory, and only logits come back to Kotlin, as in the Android app's
 * `LiteRtStageRunner`.
 *
 * Each stage file is read once; those bytes are checked against the manifest's
 * sha256 (unless [verifyChecksums] is false), verified by [StageFileVerifier] and
 * handed to LiteRT, so what LiteRT runs is what was checked, even if the file
 * changes meanwhile. One owner: calls are serialized; `close()` twice is harmless,
 * and a call after it throws [IllegalStateException].
 *
 * Example:
 * ```
 * val manifest = BundleLoader.load(folder)
 * JvmStageRunner(folder, manifest).use { Cascade(manifest, it).classify(pixels) }
 * ```
 */
class JvmStageRunner(folder: File, manifest: Manifest, threads: Int = 1, verifyChecksums: Boolean = true) :
    StageRunner {
    private val environment = LiteRtNative.createEnvironment()
    private val stages = ArrayList<CompiledStage>()
    private val rawInput: String
    private var closed = false

    init {
        try {
            val wiring = StageWiring(manifest)
            rawInput = wiring.rawInput.role
            for (spec in manifest.stages) {
                val stage = CompiledStage(environment, stageBytes(folder, spec, verifyChecksums), spec, threads)
                stages.add(stage)
                for ((input, source) in wiring.sources[spec.index]) {
                    stage.bind(input, stages[source.stage], source.output.name)
                }
            }
        } catch (error: Throwable) {
            close()
            throw error
        }
    }

    @Synchronized
    override fun runStage(index: Int, image: FloatArray): FloatArray {
        check(!closed) { "the stage runner is closed" }
        if (index !in stages.indices) throw IllegalArgumentException("no stage $index (the bundle has ${stages.size})")
        if (index == 0) stages[0].write(rawInput, image)
        return stages[index].run()
    }

    @Synchronized
    override fun close() {
        if (closed) return
        closed = true
        stages.forEach { it.close() }
        stages.clear()
        LiteRtNative.destroyEnvironment(environment)
    }

    private companion object {
        /** The stage file's bytes: a plain name inside [folder], bounded, its checksum the manifest's. */
        fun stageBytes(folder: File, spec: StageSpec, verifyChecksum: Boolean): ByteArray {
            val name = spec.file
            if (name.isEmpty() || name == "." || name == ".." || name.contains('/') || name.contains('\\')) {
                throw BundleException("stage file '$name' is not a plain file name inside the bundle")
            }
            val file = File(folder, name)
            val inside = try {
                file.canonicalFile.parentFile == folder.canonicalFile
            } catch (error: IOException) {
                false
            }
            if (!inside) throw BundleException("stage file '$name' leads outside the bundle")
            if (!file.isFile) throw BundleException("stage file '$name' is missing")
            if (file.length() > StageFileVerifier.MAX_BYTES) {
                throw BundleException("stage file '$name' is ${file.length()} bytes, over the limit of " +
                    "${StageFileVerifier.MAX_BYTES}")
            }
            val bytes = try {
                file.readBytes()
            } catch (error: IOException) {
                throw BundleException("stage file '$name' cannot be read (${error.message})")
            }
            if (verifyChecksum) {
                val actual = BundleLoader.sha256Hex(bytes.inputStream())
                if (!actual.equals(spec.sha256, ignoreCase = true)) {
                    throw BundleException("stage file '$name' is corrupted: sha256 $actual, manifest says ${spec.sha256}")
                }
            }
            return bytes
        }
    }
}
