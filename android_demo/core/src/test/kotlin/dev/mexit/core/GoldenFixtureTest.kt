package dev.mexit.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * Replays the Python golden fixture (real per-exit outputs of an exported
 * bundle on Fashion-MNIST test images) through the Kotlin cascade: every
 * policy must pick the same exit and label as Python, on every case.
 */
class GoldenFixtureTest {
    private val fixture = Json.parse(File(
        System.getProperty("mexit.golden") ?: "src/test/resources/golden_fixture.json").readText()) as Map<*, *>
    private val manifest = BundleLoader.parse(
        toJson(fixture["manifest"]), verifyChecksums = false) { null }

    private class ReplayRunner(private val outputs: List<FloatArray>) : StageRunner {
        val ran = ArrayList<Int>()

        override fun runStage(index: Int, image: FloatArray): FloatArray {
            ran.add(index)
            return outputs[index]
        }
    }

    @Test
    fun operatingPointsOfTheRealManifestParse() {
        assertTrue("no operating points in the fixture's manifest", manifest.operatingPoints.isNotEmpty())
        val speedups = manifest.operatingPoints.map { it.expectedSpeedup }
        assertEquals("looser targets never run slower", speedups.sorted(), speedups)
    }

    @Test
    fun everyPolicyAgreesWithPythonOnEveryCase() {
        val policies = (fixture["policies"] as List<*>).map { ExitPolicy.fromJson(it, manifest.stages.size) }
        val cases = fixture["cases"] as List<*>
        assertTrue("the fixture holds no cases", cases.isNotEmpty())
        val mismatches = ArrayList<String>()
        var compared = 0
        for ((caseIndex, item) in cases.withIndex()) {
            val case = item as Map<*, *>
            val outputs = (case["outputs"] as List<*>).map { exit ->
                (exit as List<*>).map { (it as Double).toFloat() }.toFloatArray()
            }
            val expected = case["expected"] as List<*>
            for ((policyIndex, policy) in policies.withIndex()) {
                val runner = ReplayRunner(outputs)
                val result = Cascade(manifest, runner, policy).classify(FloatArray(0))
                val want = (expected[policyIndex] as List<*>).map { (it as Double).toInt() }
                compared++
                if (result.exitIndex != want[0] || result.labelIndex != want[1]) {
                    mismatches.add("case $caseIndex, policy ${fixture["policies"].let { (it as List<*>)[policyIndex] }}: " +
                        "Kotlin exit ${result.exitIndex} label ${result.labelIndex}, Python exit ${want[0]} label ${want[1]}")
                }
                assertEquals("stages run in order up to the exit", (0..result.exitIndex).toList(), runner.ran)
            }
        }
        assertEquals("${mismatches.size} of $compared disagree; first: ${mismatches.take(3)}", 0, mismatches.size)
        println("golden fixture: $compared of $compared decisions agree (${cases.size} cases x ${policies.size} policies)")
    }

    companion object {
        /** Re-serializes parsed JSON, so the loader is exercised on the manifest text. */
        fun toJson(value: Any?): String = when (value) {
            null -> "null"
            is String -> buildString {
                append('"')
                for (c in value) when {
                    c == '"' || c == '\\' -> append('\\').append(c)
                    c < ' ' || c == '\u007f' -> append("\\u%04x".format(c.code))
                    else -> append(c)
                }
                append('"')
            }
            is Double -> if (value.isNaN()) "NaN" else value.toString()
            is Boolean -> value.toString()
            is List<*> -> value.joinToString(",", "[", "]") { toJson(it) }
            is Map<*, *> -> value.entries.joinToString(",", "{", "}") { toJson(it.key) + ":" + toJson(it.value) }
            else -> error("unexpected ${value::class}")
        }
    }
}
