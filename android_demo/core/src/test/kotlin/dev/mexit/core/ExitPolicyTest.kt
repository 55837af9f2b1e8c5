package dev.mexit.core

import org.junit.Assert.assertEquals
import org.junit.Test

/** Policy semantics on hand-made logits (the golden fixture covers real ones). */
class ExitPolicyTest {
    private val sure = doubleArrayOf(8.0, 0.0, 0.0)
    private val unsure = doubleArrayOf(0.1, 0.0, 0.0)
    private val other = doubleArrayOf(0.0, 8.0, 0.0)

    @Test
    fun confidenceStopsAtTheFirstConfidentExitAndTheLastAlwaysAnswers() {
        val policy = ConfidencePolicy(doubleArrayOf(0.9, 0.9))
        assertEquals(1, policy.selectExit(listOf(unsure, sure, sure)))
        assertEquals(2, policy.selectExit(listOf(unsure, unsure, unsure)))
    }

    @Test
    fun entropyAndMarginAgreeWithTheirDefinitions() {
        assertEquals(0, EntropyPolicy(doubleArrayOf(0.1)).selectExit(listOf(sure, unsure)))
        assertEquals(1, EntropyPolicy(doubleArrayOf(0.1)).selectExit(listOf(unsure, sure)))
        assertEquals(0, MarginPolicy(doubleArrayOf(0.5)).selectExit(listOf(sure, unsure)))
        assertEquals(1, MarginPolicy(doubleArrayOf(0.5)).selectExit(listOf(unsure, unsure)))
    }

    @Test
    fun patienceWaitsForAgreeingExits() {
        val policy = PatiencePolicy(2, 4)
        assertEquals(2, policy.selectExit(listOf(other, sure, sure, sure)))
        assertEquals(3, policy.selectExit(listOf(sure, other, sure, other)))
    }

    @Test
    fun budgetPicksTheDeepestAffordableExit() {
        assertEquals(1, BudgetPolicy(2.5, doubleArrayOf(1.0, 1.0, 1.0), "ms").deepest)
        assertEquals(0, BudgetPolicy(0.1, doubleArrayOf(1.0, 1.0), "ms").deepest)
    }

    @Test
    fun sumsFollowNumpysOrderNotALeftToRightLoop() {
        // np.sum([1.0] + [1e-16] * 9) == 1.0000000000000007; a plain loop gives 1.0.
        val values = DoubleArray(10) { if (it == 0) 1.0 else 1e-16 }
        assertEquals(1.0000000000000007, Scores.numpySum(values), 0.0)
        assertEquals(1.0, values.fold(0.0) { total, v -> total + v }, 0.0)
    }

    @Test
    fun statsReportHistogramPercentilesAndSaving() {
        val stats = CascadeStats(listOf("exit_1", "final"), allStagesMillis = 2.0)
        stats.add(CascadeResult(0, "exit_1", 0, "a", 0.9, listOf(1.0)))
        stats.add(CascadeResult(1, "final", 0, "a", 0.9, listOf(1.0, 1.0)))
        assertEquals(mapOf("exit_1" to 0.5, "final" to 0.5), stats.histogram())
        assertEquals(2.0, stats.percentile(95.0), 0.0)
        assertEquals(0.25, stats.saving(), 1e-12)
        assertEquals(0.0, stats.missRate(), 0.0)
        stats.add(CascadeResult(0, "exit_1", 0, "a", 0.9, listOf(3.0), StoppedBy.DEADLINE, deadlineMet = false))
        stats.add(CascadeResult(0, "exit_1", 0, "a", 0.9, listOf(1.0), StoppedBy.DEADLINE, deadlineMet = true))
        assertEquals(1, stats.misses)
        assertEquals(0.25, stats.missRate(), 0.0)
    }
}
