package dev.mexit.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.util.Base64

/**
 * The stage file verifier on a real TFLite file (968 bytes, from TFLiteConverter
 * .from_concrete_functions: Identity = x * y + const, all [1, 4] float32): it passes with
 * its spec, is refused against another, and no truncation or bit flip gets anything
 * but a [BundleException] out of it.
 */
class StageFileVerifierTest {
    private val model = Base64.getDecoder().decode(
        "HAAAAFRGTDMUACAAHAAYABQAEAAMAAAACAAEABQAAAAcAAAAHAAAAHQAAABYAQAAaAEAAGgDAAADAAAAAAAAAAIAAAA0AAAABAAA" +
        "ANz///8HAAAABAAAABMAAABDT05WRVJTSU9OX01FVEFEQVRBAAgADAAIAAQACAAAAAYAAAAEAAAAEwAAAG1pbl9ydW50aW1lX3Zl" +
        "cnNpb24ACAAAAOAAAADYAAAA0AAAALAAAACgAAAAlAAAAHQAAAAEAAAAav///wQAAABgAAAAEAAAAAAAAAAIAA4ACAAEAAgAAAAQ" +
        "AAAAJAAAAAAABgAIAAQABgAAAAQAAAAAAAAADAAYABQAEAAMAAQADAAAAImYV7OalDxqAwAAAAIAAAAEAAAABgAAADIuMjEuMAAA" +
        "1v///wQAAAAQAAAAMS41LjAAAAAAAAAAAAAAAKD9//8EAAYABAAAAAAABgAIAAQABgAAAAQAAAAQAAAAAACAPwAAAEAAAEBAAACA" +
        "QND9///U/f//2P3//w8AAABNTElSIENvbnZlcnRlZC4AAQAAABQAAAAAAA4AGAAUABAADAAIAAQADgAAABQAAAAcAAAAoAAAAKQA" +
        "AACsAAAABAAAAG1haW4AAAAAAgAAAFgAAAAUAAAAAAAOABgAFAAQAAwACwAEAA4AAAAUAAAAAAAACxAAAAAUAAAAAQAAAGD+//8B" +
        "AAAABAAAAAIAAAADAAAAAgAAAAAADgAUAAAAEAAMAAsABAAOAAAAEAAAAAAAABUMAAAAEAAAAJz+//8BAAAAAwAAAAIAAAAAAAAA" +
        "AQAAAAEAAAAEAAAAAgAAAAAAAAABAAAABQAAAPgAAACsAAAAdAAAAEAAAAAEAAAAMv///wAAAAEQAAAAEAAAAAUAAAAYAAAA+P7/" +
        "/wgAAABJZGVudGl0eQAAAAACAAAAAQAAAAQAAABq////AAAAARAAAAAQAAAABAAAABAAAAAw////AwAAAG11bAACAAAAAQAAAAQA" +
        "AACa////AAAAARAAAAAQAAAAAwAAABQAAABg////BQAAAENvbnN0AAAAAgAAAAEAAAAEAAAAzv///wAAAAEQAAAAEAAAAAIAAAAQ" +
        "AAAAlP///wEAAAB5AAAAAgAAAAEAAAAEAAAAAAAWABgAFAAAABAADAAIAAAAAAAAAAcAFgAAAAAAAAEQAAAAEAAAAAEAAAAQAAAA" +
        "3P///wEAAAB4AAAAAgAAAAEAAAAEAAAAAgAAABwAAAAIAAAABAAEAAQAAAAMAAwACwAAAAAABAAMAAAAEgAAAAAAABI=")

    private fun spec(
        inputs: List<TensorSpec> = listOf(TensorSpec("x", "x", listOf(1, 4)), TensorSpec("y", "y", listOf(1, 4))),
        outputs: List<TensorSpec> = listOf(TensorSpec("Identity", "logits", listOf(1, 4))),
    ) = StageSpec(0, "stage_0.tflite", "-", "final", listOf(1, 4), 0.1, 1.0, inputs, outputs)

    private fun refusal(bytes: ByteArray, spec: StageSpec = spec()) =
        assertThrows(BundleException::class.java) { StageFileVerifier.verify(bytes, spec) }.message!!

    @Test
    fun aWellFormedFileMatchingItsSpecPasses() {
        val summary = StageFileVerifier.verify(model, spec())
        assertEquals(listOf("x", "y"), summary.inputs.map { it.name })
        assertEquals(listOf(listOf(1, 4)), summary.outputs.map { it.shape })
    }

    @Test
    fun theSpecMustMatchTheFile() {
        val z = listOf(TensorSpec("x", "x", listOf(1, 4)), TensorSpec("z", "z", listOf(1, 4)))
        assertTrue(refusal(model, spec(inputs = z)).contains("stage file 'stage_0.tflite' has no input 'z'"))
        assertTrue(refusal(model, spec(inputs = z.take(1))).contains("has input 'y', which the manifest does not list"))
        val wide = listOf(TensorSpec("Identity", "logits", listOf(1, 5)))
        assertTrue(refusal(model, spec(outputs = wide)).contains("output 'Identity' has shape [1, 4]; the manifest says [1, 5]"))
    }

    @Test
    fun anotherFormatIsRefused() {
        val other = model.copyOf().also { it[4] = 'X'.code.toByte() }
        assertTrue(refusal(other).contains("file identifier 'XFL3', not 'TFL3'"))
        assertTrue(refusal(ByteArray(3)).contains("too short"))
    }

    @Test
    fun everyTruncationIsRefused() {
        for (length in 0 until model.size) refusal(model.copyOf(length))
    }

    @Test
    fun noBitFlipGetsAnythingButABundleException() {
        var refused = 0
        for (at in model.indices) for (bit in 0 until 8) {
            val flipped = model.copyOf().also { it[at] = (it[at].toInt() xor (1 shl bit)).toByte() }
            try {
                StageFileVerifier.verify(flipped, spec())
            } catch (error: BundleException) {
                refused++
            }
        }
        assertTrue("refused $refused of ${model.size * 8}", refused > model.size * 8 / 4)
    }
}
