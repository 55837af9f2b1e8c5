package dev.mexit.core

import org.junit.Assert.assertEquals
import org.junit.Test

/**
 * Preparation (a frame's decoding and resizing, before stage 0) is learned apart from the
 * stages: a slow spell there uses up deadlines while it lasts, but once it ends the deep
 * stages are tried again at once. (Counted in stage 0's step, as before, it raised stage
 * 0's baseline and the slowdown, and the deep stages stayed predicted too slow to fit for
 * about a window of requests, or for as long as they had not been measured.)
 */
class LatencyModelTest {
    private fun manifest(vararg millis: Double) = Manifest(1, listOf(1, 4), 0.0 to 255.0, labels = listOf(),
        quantization = "float32", stages = millis.mapIndexed { i, ms ->
            StageSpec(i, "stage_$i.tflite", "-", "exit_$i", listOf(1, 4), ms, 1.0)
        }, policy = ConfidencePolicy(DoubleArray(millis.size - 1) { 0.99 }), operatingPoints = listOf(),
        expectedAccuracy = null)

    private class TimedRunner(private val clock: LongArray) : StageRunner {
        override fun runStage(index: Int, image: FloatArray): FloatArray {
            clock[0] += 1_000_000  // every stage takes 1 ms
            return floatArrayOf(0f, 0f)
        }
    }

    @Test
    fun deepStagesComeBackAfterASlowPreparationSpell() {
        val now = longArrayOf(0)
        val cascade = Cascade(manifest(1.0, 1.0, 1.0), TimedRunner(now), runToEnd = true, clock = { now[0] })
        val deadline = 10_000_000L

        fun frame(prepareMillis: Long): CascadeResult {
            val arrived = now[0]
            now[0] += prepareMillis * 1_000_000  // decoding and resizing the frame
            return cascade.classify(FloatArray(4), deadline, startedNanos = arrived)
        }

        repeat(3) { assertEquals(2, frame(0).exitIndex) }
        // A slow spell: 9 ms of preparation leaves room for stage 0 only.
        repeat(60) {
            val result = frame(9)
            assertEquals(0, result.exitIndex)
            assertEquals(StoppedBy.DEADLINE, result.stoppedBy)
            assertEquals(true, result.deadlineMet)
        }
        assertEquals(9_000_000L, cascade.latencyModel.predictPrepareNanos())
        // The stages never got slower, and the model knows it.
        assertEquals(1_000_000L, cascade.latencyModel.predictNanos(1))
        assertEquals(1_000_000L, cascade.latencyModel.predictNanos(2))
        // The first frame after the spell runs every stage again.
        val after = frame(0)
        assertEquals(2, after.exitIndex)
        assertEquals(StoppedBy.LAST_STAGE, after.stoppedBy)
    }

    @Test
    fun preparationIsTheTailOfItsOwnWindow() {
        val model = LatencyModel(listOf(1.0), window = 4, quantile = 1.0, margin = 0.5)
        assertEquals(0L, model.predictPrepareNanos())
        listOf(1L, 9L, 3L, 2L).forEach { model.observePrepare(it * 1_000_000) }
        assertEquals(13_500_000L, model.predictPrepareNanos())  // 9 ms x 1.5
        repeat(2) { model.observePrepare(2_000_000) }  // the 9 ms leaves the window
        assertEquals(4_500_000L, model.predictPrepareNanos())
        assertEquals(1.0, model.slowdown(), 0.0)  // the stages' model saw none of it
        assertEquals(1_500_000L, model.predictNanos(0))
    }

    @Test
    fun stageZerosStepStartsWhenStageZeroBegins() {
        val now = longArrayOf(0)
        val model = LatencyModel(listOf(1.0, 1.0), quantile = 1.0, minRuns = 1)
        val run = AnytimeRun({ _ -> now[0] += 2_000_000; floatArrayOf(0f) }, 2, PatiencePolicy(1, 2),
            latencyModel = model, clock = { now[0] }, startedNanos = -5_000_000, runToEnd = true)
        run.run()
        run.answer { it }
        assertEquals(2_000_000L, model.baselineNanos(0))  // not 7 ms
        assertEquals(5_000_000L, model.predictPrepareNanos())
        assertEquals(9_000_000L, run.elapsedNanos)  // the whole request still counts
    }
}
