package dev.mexit.core

/**
 * Runs one stage of a bundle. The app's implementation wraps LiteRT; tests
 * replay recorded outputs. Stage 0 reads the image; a later stage reads the
 * hidden tokens its predecessor left inside the runner, so they never have to
 * come back to Kotlin arrays.
 *
 * Those buffers are state shared by a run's stages, so a runner serves one run at a
 * time: the [Cascade] that owns it guarantees that, and closes it in [Cascade.close].
 * [close] should be idempotent.
 */
interface StageRunner : AutoCloseable {
    /** Runs stage [index] and returns its exit's logits. */
    fun runStage(index: Int, image: FloatArray): FloatArray

    override fun close() {}
}
