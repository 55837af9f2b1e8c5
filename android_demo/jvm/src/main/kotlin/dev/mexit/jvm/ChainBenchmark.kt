package dev.mexit.jvm

import dev.mexit.core.BundleLoader
import java.io.File
import kotlin.random.Random

/**
 * For benchmarks/staged_overhead.py: times whole chains of stages on the JVM
 * runner, e.g. a staged bundle against the monolithic model of the same
 * backbone, each given as a bundle folder (checksums not verified).
 *
 *     java ... dev.mexit.jvm.ChainBenchmarkKt --runs 30 --trials 4 staged=DIR monolithic=DIR
 *
 * Per trial every chain is loaded afresh, then timed in shuffled alternation
 * (all its stages, stage 0 fed a fixed input, as the cascade runs them); prints
 * one JSON object: per chain, the median milliseconds of each trial.
 */
fun main(args: Array<String>) {
    var runs = 30
    var trials = 2
    val chains = LinkedHashMap<String, File>()
    var index = 0
    while (index < args.size) {
        when (val arg = args[index++]) {
            "--runs" -> runs = args[index++].toInt()
            "--trials" -> trials = args[index++].toInt()
            else -> arg.split("=", limit = 2).let { (name, path) -> chains[name] = File(path) }
        }
    }
    val manifests = chains.mapValues { (_, folder) -> BundleLoader.load(folder, verifyChecksums = false) }
    val medians = chains.keys.associateWith { ArrayList<Double>() }
    val random = Random(0)
    repeat(trials) {
        val runners = chains.mapValues { (name, folder) ->
            JvmStageRunner(folder, manifests.getValue(name), verifyChecksums = false)
        }
        val inputs = manifests.mapValues { (_, manifest) ->
            FloatArray(manifest.inputShape.fold(1) { a, b -> a * b }) { random.nextFloat() * 255f }
        }
        val times = chains.keys.associateWith { ArrayList<Double>() }
        fun chain(name: String) {
            val runner = runners.getValue(name)
            for (stage in manifests.getValue(name).stages.indices) runner.runStage(stage, inputs.getValue(name))
        }
        chains.keys.forEach { repeat(3) { _ -> chain(it) } }  // warm-up
        repeat(runs) {
            for (name in chains.keys.shuffled(random)) {
                val started = System.nanoTime()
                chain(name)
                times.getValue(name).add((System.nanoTime() - started) / 1e6)
            }
        }
        runners.values.forEach { it.close() }
        times.forEach { (name, values) -> medians.getValue(name).add(values.sorted()[values.size / 2]) }
    }
    println(medians.entries.joinToString(", ", "{", "}") { (name, values) -> "\"$name\": $values" })
}
