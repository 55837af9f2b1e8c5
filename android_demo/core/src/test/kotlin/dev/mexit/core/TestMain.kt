package dev.mexit.core

import org.junit.runner.JUnitCore
import kotlin.system.exitProcess

/** Runs the core's JUnit tests without Gradle (CI) and ends with "N passed, N failed". */
fun main() {
    val result = JUnitCore.runClasses(
        GoldenFixtureTest::class.java, BundleLoaderTest::class.java, ExitPolicyTest::class.java,
        StageWiringTest::class.java, DeadlineTraceTest::class.java, ManifestVectorsTest::class.java,
        JsonTest::class.java, CascadeOwnershipTest::class.java, LatencyModelTest::class.java,
        StageFileVerifierTest::class.java)
    for (failure in result.failures) println("FAILED ${failure.testHeader}: ${failure.message}")
    val failed = result.failureCount
    println("${result.runCount - failed} passed, $failed failed")
    exitProcess(if (failed == 0 && result.runCount > 0) 0 else 1)
}
