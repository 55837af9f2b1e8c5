package dev.mexit.jvm

import java.io.ByteArrayOutputStream
import java.io.PrintStream

/**
 * For tests/test_jvm_runner.py's fuzz test: `mexit-jvm run BUNDLE IMAGE --json` on many
 * (mutated) bundles in one JVM, so hundreds cost seconds, not a JVM start each. Prints
 * one JSON line per bundle: its exit status and what the command wrote to stderr and
 * stdout. A crash in native code ends the process, which the test sees.
 *
 *     java ... dev.mexit.jvm.FuzzRunKt IMAGE BUNDLE...
 */
fun main(args: Array<String>) {
    val image = args[0]
    for (bundle in args.drop(1)) {
        val out = ByteArrayOutputStream()
        val err = ByteArrayOutputStream()
        val status = PrintStream(out, true, "UTF-8").use { stdout ->
            PrintStream(err, true, "UTF-8").use { stderr -> command(listOf("run", bundle, image, "--json"), stdout, stderr) }
        }
        println("{\"bundle\": ${quoted(bundle)}, \"status\": $status, \"stderr\": ${quoted(err.toString("UTF-8"))}, " +
            "\"stdout\": ${quoted(out.toString("UTF-8"))}}")
    }
}

private fun quoted(text: String) = buildString {
    append('"')
    for (c in text) {
        if (c == '"' || c == '\\') append('\\').append(c)
        else if (c < ' ' || c > '~') append("\\u%04x".format(c.code))
        else append(c)
    }
    append('"')
}
