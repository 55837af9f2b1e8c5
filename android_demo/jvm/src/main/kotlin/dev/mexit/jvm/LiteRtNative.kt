package dev.mexit.jvm

import java.io.File

/**
 * The JNI bridge to LiteRT's C API (src/main/c/litert_jni.c, built against the
 * ai-edge-litert wheel's libLiteRt.so by tools/build_jvm_runner.sh). Handles are
 * ids the bridge checks on every call, not pointers: a closed handle throws
 * [IllegalStateException], and destroying one twice does nothing. A LiteRT call
 * that fails throws [IllegalStateException] naming it; an index or size out of
 * range, [IllegalArgumentException]. Messages are one line.
 */
internal object LiteRtNative {
    const val LIBRARY_PROPERTY = "mexit.litert.jni"

    init {
        val path = System.getProperty(LIBRARY_PROPERTY)
        if (path != null) System.load(File(path).absolutePath) else System.loadLibrary("mexit_litert_jni")
    }

    @JvmStatic external fun createEnvironment(): Long
    @JvmStatic external fun destroyEnvironment(environment: Long)
    /** A stage from a model's bytes, which must have passed [dev.mexit.core.StageFileVerifier]. */
    @JvmStatic external fun createStage(environment: Long, model: ByteArray, threads: Int): Long
    @JvmStatic external fun destroyStage(stage: Long)
    /** The signature's tensor names as the model's bytes (UTF-8). */
    @JvmStatic external fun inputNames(stage: Long): Array<ByteArray>
    @JvmStatic external fun outputNames(stage: Long): Array<ByteArray>
    @JvmStatic external fun inputSize(stage: Long, index: Int): Int
    @JvmStatic external fun outputSize(stage: Long, index: Int): Int
    /** Makes [producer]'s output buffer [output] this stage's input [index] (no copy). */
    @JvmStatic external fun bindInput(stage: Long, index: Int, producer: Long, output: Int)
    @JvmStatic external fun writeInput(stage: Long, index: Int, values: FloatArray)
    @JvmStatic external fun run(stage: Long)
    @JvmStatic external fun readOutput(stage: Long, index: Int, into: FloatArray)
}
