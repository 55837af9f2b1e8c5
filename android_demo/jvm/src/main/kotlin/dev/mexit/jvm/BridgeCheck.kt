package dev.mexit.jvm

import dev.mexit.core.BundleLoader
import java.io.File

/**
 * For tests/test_jvm_runner.py: drives the JNI bridge through what a careless or
 * hostile caller could do on a real bundle (closing twice, calls after close, indices
 * and sizes out of range, made-up handles, an environment closed before its stages)
 * and prints one JSON object: per case, "ok" or the exception's class and message.
 * The process surviving to print it is half the test.
 *
 *     java ... dev.mexit.jvm.BridgeCheckKt BUNDLE
 */
fun main(args: Array<String>) {
    val folder = File(args[0])
    val manifest = BundleLoader.load(folder)
    val model = File(folder, manifest.stages[0].file).readBytes()
    val image = FloatArray(manifest.inputShape.fold(1) { a, b -> a * b })
    val results = LinkedHashMap<String, String>()
    fun case(name: String, block: () -> Unit) {
        results[name] = try {
            block()
            "ok"
        } catch (error: Exception) {
            "${error.javaClass.simpleName}: ${error.message}"
        }
    }

    val runner = JvmStageRunner(folder, manifest)
    case("run") { runner.runStage(0, image) }
    case("close") { runner.close() }
    case("close again") { runner.close() }
    case("run after close") { runner.runStage(0, image) }

    val environment = LiteRtNative.createEnvironment()
    val stage = LiteRtNative.createStage(environment, model, 1)
    case("input index -1") { LiteRtNative.inputSize(stage, -1) }
    case("output index 99") { LiteRtNative.outputSize(stage, 99) }
    case("write 3 floats") { LiteRtNative.writeInput(stage, 0, FloatArray(3)) }
    case("read into output 7") { LiteRtNative.readOutput(stage, 7, FloatArray(10)) }
    case("bind to itself") { LiteRtNative.bindInput(stage, 0, stage, 0) }
    case("bind to a made-up stage") { LiteRtNative.bindInput(stage, 0, 987654321L, 0) }
    case("stage of 3 bytes") { LiteRtNative.createStage(environment, ByteArray(3), 1) }
    case("stage in a made-up environment") { LiteRtNative.createStage(123456789L, model, 1) }
    case("environment handle as a stage") { LiteRtNative.run(environment) }
    case("destroy stage") { LiteRtNative.destroyStage(stage) }
    case("destroy stage again") { LiteRtNative.destroyStage(stage) }
    case("run destroyed stage") { LiteRtNative.run(stage) }
    // An environment closed under a live stage stays until the stage goes.
    val orphan = LiteRtNative.createStage(environment, model, 1)
    case("destroy environment") { LiteRtNative.destroyEnvironment(environment) }
    case("destroy environment again") { LiteRtNative.destroyEnvironment(environment) }
    case("run stage of closed environment") {
        LiteRtNative.writeInput(orphan, 0, image)
        LiteRtNative.run(orphan)
    }
    case("stage in closed environment") { LiteRtNative.createStage(environment, model, 1) }
    case("destroy last stage") { LiteRtNative.destroyStage(orphan) }
    println(results.entries.joinToString(",\n", "{", "}") { (name, result) ->
        "\"$name\": \"" + result.replace("\\", "\\\\").replace("\"", "\\\"") + "\""
    })
}
