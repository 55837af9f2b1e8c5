package dev.mexit.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
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

    /** The values NumPy summed for the expected sums below (exact doubles, as in the test's Python). */
    private fun sequence(n: Int) = DoubleArray(n) { i -> ((i * 7919) % 1000 + 1) / 3.0 * (1.0 + 1e-9 * i) }

    @Test
    fun sumsOfAnyLengthFollowNumpysPairwiseOrder() {
        // np.sum of sequence(n), computed by NumPy 2.4; a left-to-right loop differs for every n >= 8 here.
        val numpy = mapOf(7 to 1435.3333378833336, 100 to 16383.334131533335, 129 to 21464.334709957337,
            1000 to 166833.41665533333, 4099 to 683390.7326111274, 100000 to 16684167.490533333)
        for ((n, expected) in numpy) assertEquals("n = $n", expected, Scores.numpySum(sequence(n)), 0.0)
    }

    @Test
    fun aThousandClassesAreScored() {
        val logits = DoubleArray(1000) { i -> ((i * 37) % 101) / 10.0 }
        val probabilities = Scores.softmax(logits)
        // NumPy: max 0.00957630666338574 at 30 (ties: the first), entropy 5.5953417649447115, margin 0.
        assertEquals(0.00957630666338574, probabilities.max(), 1e-15)
        assertEquals(30, Scores.argmax(logits))
        assertEquals(1.0, Scores.numpySum(probabilities), 1e-12)
        val outputs = listOf(logits, logits)
        assertEquals(0, ConfidencePolicy(doubleArrayOf(0.009)).selectExit(outputs))
        assertEquals(1, ConfidencePolicy(doubleArrayOf(0.01)).selectExit(outputs))
        assertEquals(5.5953417649447115, EntropyPolicy(doubleArrayOf(0.0)).score(probabilities), 1e-12)
        assertEquals(0.0, MarginPolicy(doubleArrayOf(0.0)).score(probabilities), 0.0)
    }

    @Test
    fun agreementStopsWhenConsecutiveExitsAgreeAndNeverAtTheFirst() {
        val policy = AgreementPolicy(doubleArrayOf(0.5, 0.5))
        assertEquals(4, policy.numExits)
        val a = doubleArrayOf(3.0)
        assertEquals(1, policy.selectExit(listOf(a, doubleArrayOf(3.4), doubleArrayOf(9.0), a)))
        assertEquals(2, policy.selectExit(listOf(a, doubleArrayOf(5.0), doubleArrayOf(5.5), a)))
        assertEquals(3, policy.selectExit(listOf(a, a.copyOf().also { it[0] = 4.0 }, doubleArrayOf(6.0), a)))
        // Mean + log-variance rows: the mean (output 0) is compared.
        assertEquals(1, AgreementPolicy(doubleArrayOf(0.1)).selectExit(listOf(doubleArrayOf(1.0, 9.0),
            doubleArrayOf(1.05, -9.0), doubleArrayOf(0.0, 0.0))))
    }

    @Test
    fun stdStopsWhenThePredictedSpreadIsSmall() {
        val policy = VariancePolicy(doubleArrayOf(1.0, 1.0))
        // std = exp(log-variance / 2): 0 -> 1.0 (accepted, <=), ln(1.44) -> 1.2 (not).
        assertEquals(0, policy.selectExit(listOf(doubleArrayOf(1.0, 0.0), doubleArrayOf(0.0, 0.0),
            doubleArrayOf(0.0, 0.0))))
        assertEquals(1, policy.selectExit(listOf(doubleArrayOf(1.0, Math.log(1.44)), doubleArrayOf(0.0, -30.0),
            doubleArrayOf(0.0, 0.0))))
        // The log-variance is clipped to +-10 as in training: -30 gives exp(-5), not exp(-15).
        assertEquals(0, VariancePolicy(doubleArrayOf(Math.exp(-5.0))).selectExit(listOf(doubleArrayOf(0.0, -30.0), doubleArrayOf(0.0, 0.0))))
        assertEquals(1, VariancePolicy(doubleArrayOf(Math.exp(-5.0) * 0.999)).selectExit(listOf(doubleArrayOf(0.0, -30.0), doubleArrayOf(0.0, 0.0))))
    }

    @Test
    fun everyPolicyTypeIsBuiltFromItsJson() {
        val built = listOf(
            """{"type": "confidence", "thresholds": [0.5, 0.5]}""", """{"type": "entropy", "thresholds": [0.5, 2]}""",
            """{"type": "margin", "thresholds": [0.5, 0.5]}""", """{"type": "std", "thresholds": [0.5, 0.5]}""",
            """{"type": "agreement", "thresholds": [0.5]}""", """{"type": "patience", "patience": 2, "num_exits": 3}""",
            """{"type": "budget", "budget": 2, "stage_costs": [1, 1, 1]}""",
        ).map { ExitPolicy.fromJson(Json.parse(it), 3) }
        assertEquals(listOf("ConfidencePolicy", "EntropyPolicy", "MarginPolicy", "VariancePolicy", "AgreementPolicy",
            "PatiencePolicy", "BudgetPolicy"), built.map { it::class.simpleName })
        assertEquals(ExitPolicy.TYPES.toSet(), setOf("confidence", "entropy", "margin", "std", "agreement", "patience", "budget"))
        assertTrue(built.all { it.numExits == 3 })
    }

    @Test
    fun statisticsKeepABoundedWindow() {
        val stats = CascadeStats(listOf("exit_1", "final"), allStagesMillis = 10.0, window = 100)
        repeat(1000) { stats.add(CascadeResult(1, "final", 0, "a", 0.9, listOf(50.0))) }  // a slow hour
        repeat(100) { i ->  // then the last 100: early exits of 1..100 ms, 10 of them late
            stats.add(CascadeResult(0, "exit_1", 0, "a", 0.9, listOf(i + 1.0), StoppedBy.POLICY,
                deadlineMet = if (i % 10 == 0) false else null))
        }
        assertEquals(1100, stats.count)
        assertEquals(100, stats.windowCount)
        assertEquals(mapOf("exit_1" to 1.0, "final" to 0.0), stats.histogram())
        assertEquals(50.0, stats.percentile(50.0), 0.0)
        assertEquals(95.0, stats.percentile(95.0), 0.0)
        assertEquals(100.0, stats.percentile(100.0), 0.0)
        assertEquals(1.0, stats.percentile(0.0), 0.0)
        assertEquals(10, stats.misses)
        assertEquals(0.1, stats.missRate(), 0.0)
        assertEquals(1.0 - 50.5 / 10.0, stats.saving(), 1e-9)
    }

    @Test
    fun statisticsPercentilesMatchASortOfTheWindow() {
        val random = java.util.Random(7)
        val stats = CascadeStats(listOf("a", "b", "c"), allStagesMillis = 3.0, window = 37)
        val all = ArrayList<Double>()
        repeat(500) {
            val ms = (random.nextInt(20) / 4.0)  // many ties
            all.add(ms)
            stats.add(CascadeResult(random.nextInt(3), "x", 0, "a", 0.9, listOf(ms)))
            val window = all.takeLast(37).sorted()
            for (p in listOf(1.0, 50.0, 95.0, 100.0)) {
                val rank = Math.ceil(p / 100.0 * window.size).toInt().coerceIn(1, window.size)
                assertEquals(window[rank - 1], stats.percentile(p), 0.0)
            }
        }
    }
}
