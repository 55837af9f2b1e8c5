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
                       input: String = """{"shape": [1, 28, 28, 1], "value_range": [0.0, 255.0]}"""): File {
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
               "cost": {"latency_ms": 0.5, "macs": 1000}}"""
        }
        File(root, BundleLoader.MANIFEST).writeText("""{"format_version": $version,
            "input": $input,
            "labels": ["a", "b"], "quantization": "float32",
            "stages": [${stages.joinToString()}], "policy": $policy}""")
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
    fun unknownFormatVersionIsRefused() = assertTrue(refused(bundle(version = "7")).contains("format version 7.0"))

    @Test
    fun manifestThatIsNotJsonIsRefused() {
        val root = bundle()
        File(root, BundleLoader.MANIFEST).writeText("{not json")
        assertTrue(refused(root).contains("not valid JSON"))
    }

    @Test
    fun malformedPoliciesAreRefused() {
        val cases = mapOf(
            """{"type": "confidence", "thresholds": [NaN]}""" to "must be numbers in",
            """{"type": "confidence", "thresholds": [1.5]}""" to "must be numbers in",
            """{"type": "confidence", "thresholds": [0.5, 0.5]}""" to "covers 3 exits but the bundle has 2",
            """{"type": "softmax-ish", "thresholds": [0.5]}""" to "unknown policy type 'softmax-ish'",
            """{"type": "patience", "patience": 0, "num_exits": 2}""" to "patience must be an integer >= 1",
            """[0.5]""" to "policy must be an object",
        )
        for ((policy, message) in cases) {
            val text = refused(bundle(policy = policy))
            assertTrue("'$text' should mention '$message'", text.contains(message))
        }
    }
}
