package dev.mexit.jvm

import dev.mexit.core.BundleException
import dev.mexit.core.BundleLoader
import dev.mexit.core.Cascade
import dev.mexit.core.ExitPolicy
import dev.mexit.core.Json
import dev.mexit.core.StageRunner
import java.io.File
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
    val status = try {
        run(args.toList())
    } catch (error: UsageException) {
        System.err.println("mexit-jvm: error: ${error.message}")
        2
    } catch (error: BundleException) {
        System.err.println("mexit-jvm: error: ${error.message}")
        2
    } catch (error: IllegalArgumentException) {
        System.err.println("mexit-jvm: error: ${error.message}")
        2
    }
    exitProcess(status)
}

private class UsageException(message: String) : Exception(message)

private fun run(args: List<String>): Int {
    if (args.isEmpty() || args[0] in setOf("-h", "--help")) {
        println(USAGE)
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
    val manifest = BundleLoader.load(folder)
    if (manifest.inputKind != "image") {
        throw UsageException("bundle '${folder.path}' takes ${manifest.inputKind}; mexit-jvm runs image bundles")
    }
    val policy = policyFile?.let { path ->
        val text = File(path).takeIf { it.isFile }?.readText() ?: throw UsageException("policy file '$path' does not exist")
        val parsed = try {
            Json.parse(text)
        } catch (error: IllegalArgumentException) {
            throw UsageException("policy file '$path' is not JSON (${error.message})")
        }
        ExitPolicy.fromJson(parsed, manifest.stages.size)
    } ?: manifest.policy
    JvmStageRunner(folder, manifest, threads).use { runner ->
        // One throwaway run first: the JVM loads and interprets the cascade's classes on
        // their first call (~10 ms), which would land on the first image and its deadline.
        Cascade(manifest, runner, runToEnd = true).classify(FloatArray(manifest.inputShape.fold(1) { a, b -> a * b }))
        val recorder = RecordingRunner(runner)
        val cascade = Cascade(manifest, recorder, policy, runToEnd = allStages)
        val rows = ArrayList<String>()
        for (image in images) {
            val input = ImageInput.read(image, manifest)
            input.changes.forEach { System.err.println("${image.path}: $it") }
            recorder.outputs.clear()
            val result = cascade.classify(input.pixels, deadlineNanos)
            if (json) {
                rows.add("{\"image\": ${quote(image.path)}, \"exit_index\": ${result.exitIndex}, " +
                    "\"exit\": ${quote(result.exitName)}, \"label_index\": ${result.labelIndex}, " +
                    "\"label\": ${quote(result.label)}, \"confidence\": ${result.confidence}, " +
                    "\"stage_ms\": ${result.stageMillis}, \"stopped_by\": ${quote(result.stoppedBy.word)}, " +
                    "\"deadline_met\": ${result.deadlineMet}, \"elapsed_ms\": ${result.elapsedMillis}, \"outputs\": " +
                    recorder.outputs.joinToString(", ", "[", "]") { it.joinToString(", ", "[", "]") } + "}")
            } else {
                val late = if (result.deadlineMet == false) " (late)" else ""
                println("${image.path}: ${result.exitName} '${result.label}' " +
                    "%.3f  stages %s ms, %.3f ms in all, stopped by %s%s".format(result.confidence,
                        result.stageMillis.joinToString(" ") { "%.3f".format(it) }, result.elapsedMillis,
                        result.stoppedBy.word, late))
            }
        }
        if (json) println(rows.joinToString(",\n", "[", "]"))
    }
    return 0
}

private fun quote(text: String) = "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\""

/** Keeps a copy of each stage's logits (the runner reuses its arrays). */
private class RecordingRunner(private val inner: StageRunner) : StageRunner {
    val outputs = ArrayList<FloatArray>()

    override fun runStage(index: Int, image: FloatArray): FloatArray =
        inner.runStage(index, image).also { outputs.add(it.copyOf()) }
}
