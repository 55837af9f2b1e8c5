package dev.mexit.jvm

import dev.mexit.core.BundleException
import dev.mexit.core.StageFileVerifier
import dev.mexit.core.StageSpec
import dev.mexit.core.TensorSpec

/**
 * One exported stage on LiteRT's CompiledModel (the JVM twin of Python's
 * `mexit_tf.runtime.CompiledStage`): buffers created once, inputs and outputs
 * matched to the manifest by name, so by role. [model] is the stage file's bytes,
 * verified by [StageFileVerifier] before LiteRT sees them (LiteRT itself would
 * crash on a malformed flatbuffer). `close()` twice is harmless.
 */
class CompiledStage(environment: Long, model: ByteArray, val spec: StageSpec, threads: Int) : AutoCloseable {
    internal val handle: Long
    val inputs: List<TensorSpec>
    val outputs: List<TensorSpec>
    private val logitsIndex: Int
    private val logits: FloatArray

    init {
        StageFileVerifier.verify(model, spec)
        handle = LiteRtNative.createStage(environment, model, threads)
        try {
            inputs = LiteRtNative.inputNames(handle).mapIndexed { index, name ->
                matched(spec.inputs, String(name, Charsets.UTF_8), "input", LiteRtNative.inputSize(handle, index))
            }
            outputs = LiteRtNative.outputNames(handle).mapIndexed { index, name ->
                matched(spec.outputs, String(name, Charsets.UTF_8), "output", LiteRtNative.outputSize(handle, index))
            }
            logitsIndex = outputs.indexOfFirst { it.role == "logits" }
            if (logitsIndex < 0) throw BundleException("stage ${spec.file} has no logits output")
            logits = FloatArray(outputs[logitsIndex].size)
        } catch (error: Exception) {
            LiteRtNative.destroyStage(handle)
            throw error
        }
    }

    private fun matched(listed: List<TensorSpec>, name: String, what: String, size: Int): TensorSpec {
        val tensor = listed.firstOrNull { it.name == name }
            ?: throw BundleException("stage ${spec.file} has $what '$name', which the manifest does not list")
        if (tensor.size != size) {
            throw BundleException("stage ${spec.file} $what '$name' holds $size floats; " +
                "the manifest says ${tensor.shape}")
        }
        return tensor
    }

    /** Takes [producer]'s output [output] as this stage's input [input], by reference. */
    fun bind(input: String, producer: CompiledStage, output: String) {
        val index = inputs.indexOfFirst { it.name == input }
        val from = producer.outputs.indexOfFirst { it.name == output }
        if (index < 0 || from < 0) {
            throw BundleException("stage ${spec.file} cannot take '$input' from stage ${producer.spec.file}'s '$output'")
        }
        LiteRtNative.bindInput(handle, index, producer.handle, from)
    }

    fun write(role: String, values: FloatArray) {
        val input = inputs.indexOfFirst { it.role == role }
        if (input < 0) throw IllegalArgumentException("stage ${spec.file} takes no '$role'")
        if (values.size != inputs[input].size) {
            throw IllegalArgumentException("stage ${spec.file} takes $role of ${inputs[input].size} " +
                "values (shape ${inputs[input].shape}); received ${values.size}")
        }
        LiteRtNative.writeInput(handle, input, values)
    }

    /** Runs the stage and returns its exit's logits (the array is reused by the next run). */
    fun run(): FloatArray {
        LiteRtNative.run(handle)
        LiteRtNative.readOutput(handle, logitsIndex, logits)
        return logits
    }

    /** Every output by role, read out (for tools and tests, not the cascade). */
    fun readAll(): Map<String, FloatArray> = outputs.mapIndexed { index, tensor ->
        tensor.role to FloatArray(tensor.size).also { LiteRtNative.readOutput(handle, index, it) }
    }.toMap()

    override fun close() = LiteRtNative.destroyStage(handle)  // the bridge ignores a second one
}
