package dev.mexit.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/**
 * The shared manifest vectors (tests/manifest_vectors, written by make_vectors.py and
 * read by Python's `validate_manifest` too): every valid one loads, every invalid one is
 * refused with one line naming its `error_field`; every text vector is refused in one
 * line, never with another exception (a StackOverflowError, a NumberFormatException).
 */
class ManifestVectorsTest {
    private val vectorsFile = File(System.getProperty("mexit.vectors") ?: "../../tests/manifest_vectors/vectors.json")
    private val textsFile = File(vectorsFile.parentFile, "text_vectors.json")

    private fun read(file: File) = Json.parse(file.readText(), maxDepth = 1000) as List<*>

    /** Loads [text] as a bundle's manifest; null when accepted, else the refusal. */
    private fun outcome(text: String): String? = try {
        BundleLoader.parse(text, verifyChecksums = false) { null }
        null
    } catch (error: BundleException) {
        error.message ?: "(no message)"
    }

    @Test
    fun everyVectorIsReadAsTheContractSays() {
        val vectors = read(vectorsFile)
        assertTrue("only ${vectors.size} vectors in $vectorsFile", vectors.size >= 40)
        val disagreements = ArrayList<String>()
        for (item in vectors) {
            val vector = item as Map<*, *>
            val field = vector["error_field"] as String?
            val got = try {
                outcome(GoldenFixtureTest.toJson(vector["manifest"]))
            } catch (error: Throwable) {
                "CRASH ${error::class.simpleName}: ${error.message}"
            }
            val agrees = when {
                field == null -> got == null
                got == null -> false
                else -> field in got && '\n' !in got && !got.startsWith("CRASH")
            }
            if (!agrees) {
                disagreements.add("vector '${vector["name"]}': expected ${field?.let { "a refusal naming $it" } ?: "to load"}, " +
                    "got ${got ?: "accepted"}")
            }
        }
        for (line in disagreements) println("DISAGREE $line")
        println("manifest vectors: ${vectors.size - disagreements.size} of ${vectors.size} agree")
        assertEquals(disagreements.take(3).joinToString("\n"), 0, disagreements.size)
    }

    @Test
    fun everyTextVectorIsRefusedInOneLine() {
        val texts = read(textsFile)
        assertTrue(texts.size >= 10)
        val wrong = ArrayList<String>()
        for (item in texts) {
            val vector = item as Map<*, *>
            val got = try {
                outcome(vector["text"] as String)
            } catch (error: Throwable) {
                "CRASH ${error::class.simpleName}"
            }
            if (got == null || '\n' in got || got.startsWith("CRASH")) wrong.add("'${vector["name"]}': ${got ?: "accepted"}")
        }
        for (line in wrong) println("DISAGREE text vector $line")
        println("text vectors: ${texts.size - wrong.size} of ${texts.size} refused in one line")
        assertEquals(wrong.joinToString("\n"), 0, wrong.size)
    }

    @Test
    fun anOversizedManifestIsRefusedBeforeParsing() {
        val text = "{\"pad\": \"" + "x".repeat(ManifestContract.MAX_MANIFEST_BYTES) + "\"}"
        val message = outcome(text)!!
        assertTrue(message, message.contains("at most ${ManifestContract.MAX_MANIFEST_BYTES} bytes"))
    }
}
