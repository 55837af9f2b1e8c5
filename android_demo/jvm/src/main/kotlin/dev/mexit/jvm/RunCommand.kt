package dev.mexit.jvm

import dev.mexit.core.BundleException
import dev.mexit.core.BundleLoader
import dev.mexit.core.Cascade
import dev.mexit.core.ExitPolicy
import dev.mexit.core.Json
import dev.mexit.core.StageRunner
import java.io.File
import java.io.PrintStream
import kotlin.system.exitProcess

private const val USAGE = "usage: mexit-jvm run BUNDLE IMAGE... [--policy FILE.json] [--all-stages] " +
    "[--deadline-ms D] [--threads N] [--json]"

/**
 * `mexit-jvm run BUNDLE IMAGE...`: the Kotlin cascade core on a real bundle, on
 * the JVM (LiteRT through its C API). Prints, per image, the exit, the label,
 * its confidence and each stage's milliseconds; `--json` prints one object per
 * image with every run stage's logits too. `--policy` takes a policy as the
 * manifest writes one (e.g. `{"type": "entropy", "thresholds": [...]}`);
 * `--all-stages` runs every stage (the answer is the final exit's);
 * `--deadline-ms D` answers each image within D ms when it can (the deepest exit
 * whose next stage would not fit), as `mexit predict --deadline-ms` does.
 */
fun main(args: Array<String>) {
    val status = command(args.toList(), System.out, System.err)
    System.out.flush()
    exitProcess(status)
}

/**
 * The command, its output on [out] and [err]; returns the exit status. Every refusal is
 * one line on [err] and status 2, whatever threw it: a bundle, image or option is the
 * user's input, and a stack trace helps no one. (Also for FuzzRun, in-process.)
 */
internal fun command(args: List<String>, out: PrintStream, err: PrintStream): Int = try {
    run(args, out, err)
} catch (error: UsageException) {
    refuse(err, error.message)
} catch (error: BundleException) {
    refuse(err, error.message)
} catch (error: IllegalArgumentException) {
    refuse(err, error.message)
} catch (error: IllegalStateException) {  // LiteRT refused a stage
    refuse(err, error.message)
} catch (error: Throwable) {
    err.println("mexit-jvm: internal error: ${oneLine("${error.javaClass.simpleName}: ${error.message}")}")
    1
}

private fun refuse(err: PrintStream, message: String?): Int {
    err.println("mexit-jvm: error: ${oneLine(message ?: "unknown error")}")
    return 2
}

/** [text] on one line: control characters and Unicode line separators written as escapes. */
private fun oneLine(text: String) = buildString {
    for (c in text) {
        if (c < ' ' || c in '\u007f'..'\u009f' || c == '\u2028' || c == '\u2029') append("\\u%04x".format(c.code))
        else append(c)
    }
}

private class UsageException(message: String) : Exception(message)

private fun run(args: List<String>, out: PrintStream, err: PrintStream): Int {
    if (args.isEmpty() || args[0] in setOf("-h", "--help")) {
        out.println(USAGE)
        return if (args.isEmpty()) 2 else 0
    }
    if (args[0] != "run") throw UsageException("unknown command '${args[0]}' ($USAGE)")
    val positional = ArrayList<String>()
    var policyFile: String? = null
    var allStages = false
    var json = false
    var threads = 1
    var deadlineNanos: Long? = null
    var index = 1
    while (index < args.size) {
        when (val arg = args[index++]) {
            "--policy" -> policyFile = args.getOrNull(index++) ?: throw UsageException("--policy needs a file")
            "--threads" -> threads = args.getOrNull(index++)?.toIntOrNull()?.takeIf { it > 0 }
                ?: throw UsageException("--threads takes a positive integer; received '${args.getOrNull(index - 1)}'")
            "--deadline-ms" -> deadlineNanos = args.getOrNull(index++)?.toDoubleOrNull()
                ?.takeIf { it.isFinite() && it > 0 }?.let { (it * 1e6).toLong() }
                ?: throw UsageException("--deadline-ms takes a number > 0; received '${args.getOrNull(index - 1)}'")
            "--all-stages" -> allStages = true
            "--json" -> json = true
            else -> if (arg.startsWith("--")) throw UsageException("unknown option '$arg'") else positional.add(arg)
        }
    }
    if (positional.size < 2) throw UsageException("need a bundle and at least one image ($USAGE)")
    val folder = File(positional[0])
    if (!folder.isDirectory) throw UsageException("bundle '${folder.path}' is not a folder")
    val images = positional.drop(1).map(::File)
    images.firstOrNull { !it.isFile }?.let { throw UsageException("image '${it.path}' does not exist") }
    val manifest = loading(folder) { BundleLoader.load(folder) }
    if (manifest.inputKind != "image") {
        throw UsageException("bundle '${folder.path}' takes ${manifest.inputKind}; mexit-jvm runs image bundles")
    }
    val policy = policyFile?.let { path -> readPolicy(path, manifest.stages.size) } ?: manifest.policy
    var failed = 0
    loading(folder) { JvmStageRunner(folder, manifest, threads) }.use { runner ->
        // One throwaway run first: the JVM loads and interprets the cascade's classes on
        // their first call (~10 ms), which would land on the first image and its deadline.
        Cascade(manifest, runner, runToEnd = true).classify(FloatArray(manifest.inputShape.fold(1) { a, b -> a * b }))
        val recorder = RecordingRunner(runner)
        val cascade = Cascade(manifest, recorder, policy, runToEnd = allStages)
        val rows = ArrayList<String>()
        for (image in images) {
            // One unreadable image among many: named, the others answered, exit 2 at the end.
            val input = try {
                ImageInput.read(image, manifest)
            } catch (error: IllegalArgumentException) {
                failed++
                refuse(err, error.message)
                continue
            }
            input.changes.forEach { err.println(oneLine("${image.path}: $it")) }
            recorder.outputs.clear()
            val result = cascade.classify(input.pixels, deadlineNanos)
            if (json) {
                rows.add("{\"image\": ${quote(image.path)}, \"exit_index\": ${result.exitIndex}, " +
                    "\"exit\": ${quote(result.exitName)}, \"label_index\": ${result.labelIndex}, " +
                    "\"label\": ${quote(result.label)}, \"confidence\": ${number(result.confidence)}, " +
                    "\"stage_ms\": ${numbers(result.stageMillis)}, \"stopped_by\": ${quote(result.stoppedBy.word)}, " +
                    "\"deadline_met\": ${result.deadlineMet}, \"elapsed_ms\": ${number(result.elapsedMillis)}, " +
                    "\"outputs\": " + recorder.outputs.joinToString(", ", "[", "]") { numbers(it.toList()) } + "}")
            } else {
                val late = if (result.deadlineMet == false) " (late)" else ""
                out.println("${oneLine(image.path)}: ${oneLine(result.exitName)} '${oneLine(result.label)}' " +
                    "%.3f  stages %s ms, %.3f ms in all, stopped by %s%s".format(result.confidence,
                        result.stageMillis.joinToString(" ") { "%.3f".format(it) }, result.elapsedMillis,
                        result.stoppedBy.word, late))
            }
        }
        if (json) out.println(rows.joinToString(",\n", "[", "]"))
    }
    return if (failed > 0) 2 else 0
}

/** Runs [load] on bundle [folder]; whatever it throws becomes one [BundleException] line. */
private fun <T> loading(folder: File, load: () -> T): T = try {
    load()
} catch (error: BundleException) {
    throw BundleException("bundle '${folder.path}': ${error.message}")
} catch (error: IllegalStateException) {
    throw BundleException("bundle '${folder.path}': ${error.message}")
} catch (error: Exception) {  // a malformed manifest the loader did not foresee
    throw BundleException("bundle '${folder.path}' cannot be loaded (${error.javaClass.simpleName}: ${error.message})")
} catch (error: StackOverflowError) {
    throw BundleException("bundle '${folder.path}' cannot be loaded (nested too deeply)")
} catch (error: OutOfMemoryError) {
    throw BundleException("bundle '${folder.path}' cannot be loaded (out of memory)")
}

private const val MAX_POLICY_BYTES = 1L shl 20

private fun readPolicy(path: String, numStages: Int): ExitPolicy {
    val file = File(path)
    if (!file.isFile) throw UsageException("policy file '$path' does not exist")
    if (file.length() > MAX_POLICY_BYTES) throw UsageException("policy file '$path' is over $MAX_POLICY_BYTES bytes")
    val parsed = try {
        Json.parse(file.readText())
    } catch (error: IllegalArgumentException) {
        throw UsageException("policy file '$path' is not JSON (${error.message})")
    } catch (error: java.io.IOException) {
        throw UsageException("policy file '$path' cannot be read (${error.message})")
    }
    return try {
        ExitPolicy.fromJson(parsed, numStages)
    } catch (error: BundleException) {
        throw UsageException("policy file '$path': ${error.message}")
    } catch (error: RuntimeException) {
        throw UsageException("policy file '$path' is not a policy (${error.javaClass.simpleName}: ${error.message})")
    }
}

/** A JSON string: quotes, backslashes, control and non-ASCII characters escaped (as Python's json). */
private fun quote(text: String) = buildString {
    append('"')
    for (c in text) {
        when {
            c == '"' -> append("\\\"")
            c == '\\' -> append("\\\\")
            c == '\n' -> append("\\n")
            c == '\r' -> append("\\r")
            c == '\t' -> append("\\t")
            c < ' ' || c > '~' -> append("\\u%04x".format(c.code))
            else -> append(c)
        }
    }
    append('"')
}

/** A JSON number; NaN and infinities, which JSON has no word for, as null. */
private fun number(value: Number): String = value.toDouble().let { if (it.isFinite()) value.toString() else "null" }

private fun numbers(values: List<Number>) = values.joinToString(", ", "[", "]") { number(it) }

/** Keeps a copy of each stage's logits (the runner reuses its arrays). */
private class RecordingRunner(private val inner: StageRunner) : StageRunner {
    val outputs = ArrayList<FloatArray>()

    override fun runStage(index: Int, image: FloatArray): FloatArray =
        inner.runStage(index, image).also { outputs.add(it.copyOf()) }
}
