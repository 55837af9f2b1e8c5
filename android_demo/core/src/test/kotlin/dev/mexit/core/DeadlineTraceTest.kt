package dev.mexit.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * The deadline semantics agree with Python's on the golden traces
 * (deadline_traces.json, written by `converters.golden_fixture.write_deadline_traces`):
 * every request's stage latencies come from an injected clock, and the cases run
 * in order through one latency model, so its learning must agree too.
 */
class DeadlineTraceTest {
    private val traces = Json.parse(File(
        System.getProperty("mexit.traces") ?: "src/test/resources/deadline_traces.json").readText()) as Map<*, *>

    private fun numbers(value: Any?) = (value as List<*>).map { (it as Double) }

    @Test
    fun everyTraceCaseStopsWhereAndWhenPythonStopped() {
        val config = traces["latency_model"] as Map<*, *>
        val model = LatencyModel(numbers(traces["seed_ms"]), window = (config["window"] as Double).toInt(),
            quantile = config["quantile"] as Double, margin = config["margin"] as Double,
            minRuns = (config["min_runs"] as Double).toInt())
        val cases = traces["cases"] as List<*>
        val policies = (traces["policies"] as List<*>).map { ExitPolicy.fromJson(it, model.let { _ -> numbers(traces["seed_ms"]).size }) }
        var now = 0L
        val disagreements = ArrayList<String>()
        for ((number, item) in cases.withIndex()) {
            val case = item as Map<*, *>
            val outputs = (case["outputs"] as List<*>).map { row -> numbers(row).map { it.toFloat() }.toFloatArray() }
            val stageNanos = numbers(case["stage_ns"]).map { it.toLong() }
            val policyIndex = (case["policy"] as Double?)?.toInt()
            val deadline = (case["deadline_ms"] as Double?)?.let { (it * 1e6).toLong() }
            val finishNanos = (case["finish_ns"] as Double).toLong()
            val run = AnytimeRun({ k -> now += stageNanos[k]; outputs[k] }, stageNanos.size,
                policies[policyIndex ?: 0], deadline, model, { now }, runToEnd = policyIndex == null).run()
            val index = run.answer { now += finishNanos; it.outputs.size - 1 }  // building takes time too
            val expected = case["expected"] as Map<*, *>
            val got = listOf(index, run.stoppedBy!!.word, run.deadlineMet, run.elapsedNanos)
            val want = listOf((expected["exit"] as Double).toInt(), expected["stopped_by"],
                expected["deadline_met"], (expected["elapsed_ns"] as Double).toLong())
            if (got != want) disagreements.add("case $number: Kotlin $got, Python $want")
        }
        println("deadline traces: ${cases.size - disagreements.size} of ${cases.size} cases agree")
        assertEquals(disagreements.take(5).joinToString("\n"), 0, disagreements.size)
    }

    private fun manifest(vararg millis: Double) = Manifest(1, listOf(1, 4), 0.0 to 255.0, labels = listOf(),
        quantization = "float32", stages = millis.mapIndexed { i, ms ->
            StageSpec(i, "stage_$i.tflite", "-", "exit_$i", listOf(1, 4), ms, 1.0)
        }, policy = ConfidencePolicy(DoubleArray(millis.size - 1) { 0.99 }), operatingPoints = listOf(),
        expectedAccuracy = null)

    /** A runner whose stage k "takes" [millis] on the shared fake clock. */
    private class TimedRunner(private val millis: List<Double>, private val clock: LongArray) : StageRunner {
        override fun runStage(index: Int, image: FloatArray): FloatArray {
            clock[0] += (millis[index] * 1e6).toLong()
            return floatArrayOf(0f, 0f)  // never confident: only the deadline or the end stops
        }
    }

    @Test
    fun theDeadlineStopsBeforeAStageThatWouldNotFit() {
        val now = longArrayOf(0)
        val cascade = Cascade(manifest(1.0, 1.0, 1.0), TimedRunner(listOf(1.0, 1.0, 1.0), now), clock = { now[0] })
        val result = cascade.classify(FloatArray(4), deadlineNanos = 2_500_000)  // 2 stages fit, not 3 (1 ms each predicted)
        assertEquals(1, result.exitIndex)
        assertEquals(StoppedBy.DEADLINE, result.stoppedBy)
        assertEquals(true, result.deadlineMet)
        assertEquals(2.0, result.elapsedMillis, 1e-9)
        val free = cascade.classify(FloatArray(4))
        assertEquals(StoppedBy.LAST_STAGE, free.stoppedBy)
        assertNull(free.deadlineMet)
    }

    @Test
    fun aFirstStageThatAloneOverrunsMissesTheDeadline() {
        val now = longArrayOf(0)
        val cascade = Cascade(manifest(1.0, 1.0), TimedRunner(listOf(3.0, 1.0), now), clock = { now[0] })
        val result = cascade.classify(FloatArray(4), deadlineNanos = 2_000_000)
        assertEquals(0, result.exitIndex)
        assertEquals(StoppedBy.DEADLINE, result.stoppedBy)
        assertFalse(result.deadlineMet!!)
    }

    @Test
    fun anotherThreadCanStopTheRunAndTakeTheBestAnswer() {
        val now = longArrayOf(0)
        val cascade = Cascade(manifest(1.0, 1.0, 1.0), TimedRunner(listOf(1.0, 1.0, 1.0), now), clock = { now[0] })
        val run = cascade.start(FloatArray(4))
        assertNull(run.best())
        assertTrue(run.step())
        assertEquals(0, run.best()!!.first)
        val stopper = Thread { run.stop() }
        stopper.start()
        stopper.join()
        assertFalse(run.step())
        assertEquals(StoppedBy.INTERRUPTED, cascade.finish(run).stoppedBy)
        assertEquals(0, cascade.finish(run).exitIndex)
    }

    @Test
    fun theLatencyModelFollowsTheMachineThroughStageZero() {
        val model = LatencyModel(listOf(1.0, 2.0), window = 4, quantile = 1.0, margin = 0.0, minRuns = 100)
        assertEquals(2_000_000L, model.predictNanos(1))
        repeat(4) { model.observe(0, 3_000_000) }  // stage 0 three times slower
        assertEquals(6_000_000L, model.predictNanos(1))
        repeat(4) { model.observe(0, 1_000_000) }  // recovered: the window forgot
        assertEquals(2_000_000L, model.predictNanos(1))
    }
}
