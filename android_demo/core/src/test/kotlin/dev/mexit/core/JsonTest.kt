package dev.mexit.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** The JSON reader is strict and bounded: a hostile manifest gets one line, never a crash. */
class JsonTest {
    private fun refused(text: String, maxDepth: Int = Json.MAX_DEPTH): String =
        assertThrows(IllegalArgumentException::class.java) { Json.parse(text, maxDepth) }.message!!

    @Test
    fun nanAndInfinityAreNotNumbers() {
        for (text in listOf("[NaN]", "[Infinity]", "[-Infinity]", "[1e400]", "[-1e400]")) {
            val message = refused(text)
            assertTrue("$text: $message", "NaN" in message || "Infinity" in message || "out of range" in message)
        }
        assertEquals(listOf(1e300, -0.5, 0.0, 12.0), Json.parse("[1e300, -0.5, 0, 1.2e1]"))
    }

    @Test
    fun numbersFollowTheGrammar() {
        for (text in listOf("[01]", "[1.]", "[.5]", "[+1]", "[1e]", "[--1]", "[0x10]", "[1.5.5]")) refused(text)
    }

    @Test
    fun nestingIsBoundedWithoutRecursingDeeper() {
        val ok = "[".repeat(64) + "]".repeat(64)
        Json.parse(ok)
        val message = refused("{\"a\": " + "[".repeat(65) + "]".repeat(65) + "}")
        assertTrue(message, message.startsWith("a[0]") && "nests deeper than 64 levels" in message)
        // Far past any stack: refused at level 65, not a StackOverflowError.
        refused("[".repeat(1_000_000))
        refused("{\"a\":".repeat(200_000))
    }

    @Test
    fun stringsAreStrict() {
        refused("[\"a\u0001b\"]")   // raw control character
        refused("[\"a\nb\"]")
        refused("[\"\\x41\"]")      // unknown escape
        refused("[\"\\u12G4\"]")    // bad hex
        refused("['a']")
        assertEquals(listOf("a\nb", "é", "/"), Json.parse("[\"a\\nb\", \"\\u00e9\", \"\\/\"]"))
    }

    @Test
    fun onlyJsonWhitespaceAndNoTrailingText() {
        refused("[1]\u00a0")
        refused("[1] []")
        assertEquals(listOf(1.0), Json.parse(" \t\r\n[1] \n"))
    }

    @Test
    fun aRepeatedKeyKeepsItsLastValueAsPythonDoes() {
        assertEquals(mapOf("a" to 2.0), Json.parse("{\"a\": 1, \"a\": 2}"))
    }
}
