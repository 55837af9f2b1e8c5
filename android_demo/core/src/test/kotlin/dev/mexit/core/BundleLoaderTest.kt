package dev.mexit.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder
import java.io.File

/** A bundle that cannot run is refused at load, with a message that names the problem. */
class BundleLoaderTest {
    @get:Rule
    val folder = TemporaryFolder()

    private fun bundle(policy: String = """{"type": "confidence", "thresholds": [0.9]}""",
                       version: String = "1", corrupt: Boolean = false, missing: Boolean = false,
                       input: String = """{"shape": [1, 28, 28, 1], "value_range": [0.0, 255.0]}""",
                       bytes: Boolean = false, calibration: String = "{}"): File {
        val root = folder.newFolder()
        val hashes = (0..1).map { index ->
            val file = File(root, "stage_$index.tflite")
            file.writeBytes(ByteArray(64) { (it * (index + 3)).toByte() })
            BundleLoader.sha256Hex(file)
        }
        if (corrupt) File(root, "stage_1.tflite").appendBytes(byteArrayOf(1))
        if (missing) File(root, "stage_0.tflite").delete()
        val stages = hashes.mapIndexed { index, sha ->
            """{"file": "stage_$index.tflite", "sha256": "$sha", "exit": "${if (index == 0) "exit_1" else "final"}",
               "inputs": [{"name": "x", "shape": [1, 28, 28, 1], "dtype": "float32"}],
               "outputs": [{"name": "Identity", "role": "logits", "shape": [1, 2]},
                           {"name": "Identity_1", "role": "hidden", "shape": [1, 50, 8]}],
               "cost": {"latency_ms": 0.5, "macs": 1000}${if (bytes) ", \"bytes\": 64" else ""}}"""
        }
        File(root, BundleLoader.MANIFEST).writeText("""{"format_version": $version,
            "input": $input,
            "labels": ["a", "b"], "quantization": "float32",
            "stages": [${stages.joinToString()}], "policy": $policy, "calibration": $calibration}""")
        return root
    }

    private fun refused(root: File): String =
        assertThrows(BundleException::class.java) { BundleLoader.load(root) }.message!!

    @Test
    fun aValidBundleLoads() {
        val manifest = BundleLoader.load(bundle())
        assertEquals(listOf("exit_1", "final"), manifest.exitNames)
        assertTrue(manifest.policy is ConfidencePolicy)
    }

    @Test
    fun theInputKindIsReadAndDefaultsToImage() {
        assertEquals("image", BundleLoader.load(bundle()).inputKind)
        val audio = BundleLoader.load(bundle(input = """{"kind": "audio", "shape": [1, 8320],
            "value_range": [-1.0, 1.0], "sample_rate": 8000}"""))
        assertEquals("audio", audio.inputKind)
        assertEquals(8000, audio.sampleRate)
        assertEquals(listOf(1, 8320), audio.inputShape)
        // An audio-visual bundle parses (its shape is the image part's) so the demo can refuse it by kind.
        val pairs = BundleLoader.load(bundle(input = """{"kind": "audiovisual", "shape": [1, 64, 64, 1],
            "parts": [{"name": "image", "shape": [1, 64, 64, 1]}, {"name": "waveform", "shape": [1, 8320]}]}"""))
        assertEquals("audiovisual", pairs.inputKind)
        assertEquals(listOf(1, 64, 64, 1), pairs.inputShape)
    }

    @Test
    fun stageTensorsAreReadWithTheirRoles() {
        val stage = BundleLoader.load(bundle()).stages[1]
        assertEquals(listOf(TensorSpec("x", "x", listOf(1, 28, 28, 1))), stage.inputs)
        assertEquals(listOf("logits", "hidden"), stage.outputs.map { it.role })
        assertEquals(50 * 8, stage.outputs[1].size)
    }

    @Test
    fun everyStageCheckedIsReported() {
        val root = bundle()
        val reported = ArrayList<Pair<Int, Int>>()
        BundleLoader.parse(File(root, BundleLoader.MANIFEST).readText(), onStageChecked = { i, n -> reported.add(i to n) }) {
            File(root, it).inputStream()
        }
        assertEquals(listOf(0 to 2, 1 to 2), reported)
    }

    @Test
    fun missingStageIsRefused() = assertTrue(refused(bundle(missing = true)).contains("'stage_0.tflite' is missing"))

    @Test
    fun badChecksumIsRefused() = assertTrue(refused(bundle(corrupt = true)).contains("corrupted: sha256"))

    @Test
    fun unknownFormatVersionIsRefused() = assertTrue(refused(bundle(version = "7")).contains("format_version is 7;"))

    @Test
    fun manifestThatIsNotJsonIsRefused() {
        val root = bundle()
        File(root, BundleLoader.MANIFEST).writeText("{not json")
        assertTrue(refused(root).contains("not valid JSON"))
    }

    @Test
    fun malformedPoliciesAreRefused() {
        val cases = mapOf(
            """{"type": "confidence", "thresholds": [NaN]}""" to "not valid JSON",
            """{"type": "confidence", "thresholds": [1.5]}""" to "policy.thresholds[0] must be in [0, 1]",
            """{"type": "confidence", "thresholds": [0.5, 0.5]}""" to "policy.thresholds holds 2 values; a confidence policy over 2 stages needs 1",
            """{"type": "softmax-ish", "thresholds": [0.5]}""" to "policy.type must be one of",
            """{"type": "patience", "patience": 0, "num_exits": 2}""" to "policy.patience must be an integer in [1, 64]",
            """[0.5]""" to "policy must be of type object",
            """{"type": "agreement", "thresholds": []}""" to "", // valid: K-2 = 0 thresholds
            """{"type": "std", "thresholds": [-0.1]}""" to "policy.thresholds[0] must be in [0, inf]",
        )
        for ((policy, message) in cases) {
            if (message.isEmpty()) {
                BundleLoader.load(bundle(policy = policy))
                continue
            }
            val text = refused(bundle(policy = policy))
            assertTrue("'$text' should mention '$message'", text.contains(message))
        }
    }

    @Test
    fun aStageFileThatLeadsOutOfTheBundleIsRefused() {
        val root = bundle()
        val outside = File(root.parentFile, "elsewhere.tflite")
        File(root, "stage_0.tflite").renameTo(outside)
        java.nio.file.Files.createSymbolicLink(File(root, "stage_0.tflite").toPath(), outside.toPath())
        assertTrue(refused(root).contains("'stage_0.tflite' leads outside the bundle"))
    }

    @Test
    fun aStageFileOfAnotherSizeThanRecordedIsRefused() {
        BundleLoader.load(bundle(bytes = true))
        assertTrue(refused(bundle(bytes = true, corrupt = true)).contains("'stage_1.tflite' is 65 bytes; the manifest says 64"))
    }

    @Test
    fun aManifestFileOverTheBoundIsRefusedUnread() {
        val root = bundle()
        java.io.RandomAccessFile(File(root, BundleLoader.MANIFEST), "rw").use {
            it.setLength(ManifestContract.MAX_MANIFEST_BYTES + 1L)
        }
        assertTrue(refused(root).contains("at most ${ManifestContract.MAX_MANIFEST_BYTES} bytes"))
    }

    @Test
    fun aMissingLatencyIsRefusedNotTakenAsZero() {
        val root = bundle()
        val manifest = File(root, BundleLoader.MANIFEST)
        manifest.writeText(manifest.readText().replaceFirst("\"latency_ms\": 0.5", "\"latency\": 0.5"))
        assertTrue(refused(root).contains("stages[0].cost.latency_ms is missing"))
    }

    @Test
    fun aBadOperatingPointIsLeftOutOfThePickerNotTheBundle() {
        val manifest = BundleLoader.load(bundle(calibration = """{"operating_points": [
            {"label": "good", "policy": {"type": "confidence", "thresholds": [0.5]}},
            {"label": "bad", "policy": {"type": "confidence", "thresholds": [0.5, 0.5]}}]}"""))
        assertEquals(listOf("good"), manifest.operatingPoints.map { it.label })
        assertEquals(1, manifest.skippedOperatingPoints.size)
        assertTrue(manifest.skippedOperatingPoints[0],
            manifest.skippedOperatingPoints[0].contains("calibration.operating_points[1].policy.thresholds"))
    }
}
