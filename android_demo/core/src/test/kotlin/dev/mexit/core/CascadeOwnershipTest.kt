package dev.mexit.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

/**
 * One owner for a cascade's state: runs from several threads give the serial answers,
 * runs never interleave on the runner's buffers, a thread cannot start a second run
 * before its first ended, and close() is idempotent and waits for a run in progress.
 */
class CascadeOwnershipTest {
    private val classes = 10

    private fun manifest(stages: Int = 3) = Manifest(1, listOf(1, 1), 0.0 to 255.0, labels = listOf(),
        quantization = "float32", stages = (0 until stages).map { i ->
            StageSpec(i, "stage_$i.tflite", "-", "exit_$i", listOf(1, 1), 0.1, 1.0)
        }, policy = ConfidencePolicy(DoubleArray(stages - 1) { 1.0 }), operatingPoints = listOf(),
        expectedAccuracy = null)

    /**
     * Like a LiteRT runner: stage 0 writes the input into a buffer the next stage reads;
     * the last stage answers from what it finds there. Two runs interleaved on it mix
     * their inputs (and the overlap is recorded).
     */
    private class BufferRunner(private val stages: Int, private val classes: Int) : StageRunner {
        private var hidden = 0.0
        private var inRun = false
        val overlaps = AtomicInteger()
        val closes = AtomicInteger()
        var failAt: Int? = null

        override fun runStage(index: Int, image: FloatArray): FloatArray {
            if (index == 0) {
                if (inRun) overlaps.incrementAndGet()
                inRun = true
                hidden = image[0].toDouble()
            }
            Thread.yield()
            if (failAt == index) {
                failAt = null
                inRun = false
                throw IllegalStateException("stage $index failed")
            }
            val seen = hidden
            Thread.yield()
            hidden = seen  // handed on
            if (index == stages - 1) inRun = false
            return FloatArray(classes) { if (it == seen.toInt() % classes) 5f else 0f }
        }

        override fun close() {
            closes.incrementAndGet()
        }
    }

    @Test
    fun fourThreadsGetTheSerialAnswers() {
        val runner = BufferRunner(3, classes)
        val cascade = Cascade(manifest(), runner, runToEnd = true)
        val serial = (0 until 200).map { cascade.classify(floatArrayOf(it.toFloat())).labelIndex }
        assertEquals((0 until 200).map { it % classes }, serial)
        val wrong = Collections.synchronizedList(ArrayList<String>())
        val threads = (0 until 4).map { t ->
            Thread {
                for (i in 0 until 200) {
                    val input = (t * 200 + i) % 200
                    val got = cascade.classify(floatArrayOf(input.toFloat())).labelIndex
                    if (got != serial[input]) wrong.add("thread $t input $input: $got, serially ${serial[input]}")
                }
            }
        }
        threads.forEach { it.start() }
        threads.forEach { it.join(60_000) }
        assertTrue(threads.none { it.isAlive })
        assertEquals(wrong.take(3).toString(), 0, wrong.size)
        assertEquals("runs interleaved on the runner", 0, runner.overlaps.get())
    }

    @Test
    fun aSecondRunOnTheSameThreadIsRefusedUntilTheFirstEnds() {
        val cascade = Cascade(manifest(), BufferRunner(3, classes), runToEnd = true)
        val first = cascade.start(floatArrayOf(3f))
        assertTrue(first.step())
        val error = assertThrows(IllegalStateException::class.java) { cascade.start(floatArrayOf(4f)) }
        assertTrue(error.message!!, error.message!!.contains("earlier run of the cascade has not ended"))
        assertThrows(IllegalStateException::class.java) { cascade.classify(floatArrayOf(4f)) }
        first.run()
        assertEquals(3, cascade.finish(first).labelIndex)
        assertEquals(4, cascade.classify(floatArrayOf(4f)).labelIndex)
        // A run closed half-way also frees the cascade.
        val abandoned = cascade.start(floatArrayOf(5f))
        abandoned.step()
        abandoned.close()
        assertEquals(StoppedBy.INTERRUPTED, abandoned.stoppedBy)
        assertEquals(6, cascade.classify(floatArrayOf(6f)).labelIndex)
    }

    @Test
    fun anotherThreadWaitsForTheRunInProgress() {
        val cascade = Cascade(manifest(), BufferRunner(3, classes), runToEnd = true)
        val first = cascade.start(floatArrayOf(1f))
        first.step()
        val answered = CountDownLatch(1)
        var label = -1
        val other = Thread {
            label = cascade.classify(floatArrayOf(2f)).labelIndex
            answered.countDown()
        }
        other.start()
        assertFalse("the other thread ran inside our run", answered.await(200, TimeUnit.MILLISECONDS))
        first.run()
        assertTrue(answered.await(10, TimeUnit.SECONDS))
        assertEquals(2, label)
        assertEquals(1, cascade.finish(first).labelIndex)
    }

    @Test
    fun aStageThatThrowsEndsTheRunAndFreesTheCascade() {
        val runner = BufferRunner(3, classes)
        val cascade = Cascade(manifest(), runner, runToEnd = true)
        runner.failAt = 1
        val error = assertThrows(IllegalStateException::class.java) { cascade.classify(floatArrayOf(1f)) }
        assertEquals("stage 1 failed", error.message)
        assertEquals(7, cascade.classify(floatArrayOf(7f)).labelIndex)
    }

    @Test
    fun closeIsIdempotentClosesTheRunnerOnceAndRefusesLaterRuns() {
        val runner = BufferRunner(3, classes)
        val cascade = Cascade(manifest(), runner)
        cascade.classify(floatArrayOf(1f))
        cascade.close()
        cascade.close()
        assertEquals(1, runner.closes.get())
        assertTrue(cascade.isClosed)
        val error = assertThrows(IllegalStateException::class.java) { cascade.classify(floatArrayOf(1f)) }
        assertEquals("the cascade is closed", error.message)
    }

    @Test
    fun closeEndsThisThreadsRunAndWaitsForAnotherThreads() {
        val runner = BufferRunner(3, classes)
        val own = Cascade(manifest(), runner, runToEnd = true)
        val run = own.start(floatArrayOf(1f))
        run.step()
        own.close()  // would wait for itself without ending the run
        assertEquals(StoppedBy.INTERRUPTED, run.stoppedBy)
        assertEquals(1, runner.closes.get())

        val other = BufferRunner(3, classes)
        val shared = Cascade(manifest(), other, runToEnd = true)
        val started = CountDownLatch(1)
        val release = CountDownLatch(1)
        val worker = Thread {
            val r = shared.start(floatArrayOf(2f))
            r.step()
            started.countDown()
            release.await()
            r.run()
        }
        worker.start()
        started.await()
        val closer = Thread { shared.close() }
        closer.start()
        closer.join(200)
        assertTrue("close() did not wait for the run in progress", closer.isAlive)
        assertEquals(0, other.closes.get())
        release.countDown()
        closer.join(10_000)
        worker.join(10_000)
        assertFalse(closer.isAlive)
        assertEquals(1, other.closes.get())
    }
}
