package dev.mexit.core

import kotlin.math.floor

/**
 * The manifest contract, applied to parsed JSON before anything else reads it: the JSON
 * Schema shipped with the Python package (mexit_tf/runtime/manifest.schema.json) written
 * out by hand, plus the rules a schema cannot say, which Python's `validate_manifest`
 * applies identically (the shared vectors in tests/manifest_vectors hold both to it):
 *
 * - R1 every stage has exactly one output with role `logits`; every stage but the last
 *   hands tokens on: an output with role `hidden`, or (the stage of an audio-visual
 *   bundle's first audio-visual exit, as the exporter writes it) `audio_token`;
 * - R2 every tensor (each stage's inputs and outputs, the input spec and its parts) has
 *   at most [MAX_TENSOR_ELEMENTS] elements;
 * - R3 classification bundles (task absent or `classification`): every stage's logits
 *   end in the same class count C; `labels` is empty or holds C names;
 * - R4 the policy covers the stages (see [checkPolicy]);
 * - R5 at most [MAX_MANIFEST_BYTES] bytes, [Json.MAX_DEPTH] levels deep, finite numbers
 *   ([Json] and [BundleLoader] hold to it while parsing).
 *
 * Every violation is a [BundleException] with one line naming the field as every reader
 * does: `manifest: stages[0].file must be a plain file name ...; received '../x'`.
 */
object ManifestContract {
    const val MAX_MANIFEST_BYTES = 8 shl 20
    const val MAX_TENSOR_ELEMENTS = 1L shl 26
    const val MAX_STAGE_BYTES = 2L shl 30
    val POLICY_TYPES = listOf("confidence", "entropy", "margin", "patience", "budget", "agreement", "std")
    private val TASKS = listOf("classification", "regression")
    private val OUTPUTS = listOf("logits", "value", "mean_log_variance")
    private val QUANTIZATIONS = listOf("float32", "float16", "dynamic", "int8", "int8-static")
    private val ROLES = listOf("image", "waveform", "hidden", "audio_token", "logits")
    private val KINDS = listOf("image", "audio", "audiovisual")

    /** Checks a parsed manifest; returns it as a map when it holds to the whole contract. */
    fun check(root: Any?): Map<*, *> {
        val manifest = root as? Map<*, *> ?: throw BundleException(
            "manifest must hold a JSON object; received ${kind(root)}")
        val version = manifest["format_version"]
        if (version !is Double || version != Manifest.FORMAT_VERSION.toDouble()) {
            throw BundleException("manifest: format_version is " +
                (if (manifest.containsKey("format_version")) shown(version) else "missing") +
                "; this reader reads version ${Manifest.FORMAT_VERSION}. Re-export the bundle or update the app.")
        }
        for (key in listOf("input", "labels", "quantization", "stages", "policy")) required(manifest, key, "")
        optional(manifest, "created") { text(it, "created", 64, controls = true) }
        optional(manifest, "task") { oneOf(it, "task", TASKS) }
        optional(manifest, "output") { oneOf(it, "output", OUTPUTS) }
        inputSpec(manifest["input"], "input", withParts = true)
        list(manifest["labels"], "labels", 0, 100_000).forEachIndexed { i, label ->
            text(label, "labels[$i]", 256, controls = false)
        }
        oneOf(manifest["quantization"], "quantization", QUANTIZATIONS)
        optional(manifest, "int8_ranges") { oneOf(it, "int8_ranges", listOf(null, "qat", "ptq")) }
        for (key in listOf("hidden", "calibration", "parity", "versions")) optional(manifest, key) { obj(it, key) }
        optional(manifest, "data_source") { if (it != null) text(it, "data_source", 4096, controls = true) }
        val stages = list(manifest["stages"], "stages", 1, 64)
        stages.forEachIndexed { k, stage -> stage(stage, "stages[$k]") }
        roles(manifest, stages)
        checkPolicy(manifest["policy"], stages.size, "policy")
        return manifest
    }

    private fun inputSpec(value: Any?, path: String, withParts: Boolean) {
        val part = obj(value, path)
        required(part, "shape", path)
        optional(part, "name") { if (it != null) text(it, "$path.name", 256, controls = true) }
        optional(part, "kind") { oneOf(it, "$path.kind", KINDS) }
        elements(shape(part["shape"], "$path.shape"), "$path.shape")
        optional(part, "dtype") { oneOf(it, "$path.dtype", listOf("float32")) }
        optional(part, "value_range") {
            list(it, "$path.value_range", 2, 2).forEachIndexed { i, x -> finite(x, "$path.value_range[$i]") }
        }
        optional(part, "pixel_scale") { finite(it, "$path.pixel_scale") }
        optional(part, "pixel_offset") { finite(it, "$path.pixel_offset") }
        optional(part, "sample_rate") { integer(it, "$path.sample_rate", 1.0, 1e6) }
        optional(part, "channels") { integer(it, "$path.channels", 1.0, 4.0) }
        optional(part, "preprocessing") { text(it, "$path.preprocessing", 4096, controls = true) }
        optional(part, "resize") { oneOf(it, "$path.resize", listOf(PixelRules.RESIZE_RULE)) }
        if (withParts) optional(part, "parts") {
            list(it, "$path.parts", 1, 2).forEachIndexed { i, p -> inputSpec(p, "$path.parts[$i]", false) }
        }
    }

    private fun stage(value: Any?, path: String) {
        val stage = obj(value, path)
        for (key in listOf("file", "sha256", "exit", "inputs", "outputs", "cost")) required(stage, key, path)
        optional(stage, "index") { integer(it, "$path.index", 0.0, 63.0) }
        fileName(stage["file"], "$path.file")
        val sha = stage["sha256"]
        if (sha !is String || sha.length != 64 || !sha.all { it in '0'..'9' || it in 'a'..'f' }) {
            fail("$path.sha256", "must be 64 lowercase hex digits", sha)
        }
        optional(stage, "bytes") { integer(it, "$path.bytes", 1.0, Int.MAX_VALUE.toDouble()) }
        name(stage["exit"], "$path.exit")
        optional(stage, "after_block") { integer(it, "$path.after_block", 0.0, 10_000.0) }
        optional(stage, "head") { if (it != null) text(it, "$path.head", 256, controls = true) }
        list(stage["inputs"], "$path.inputs", 1, 4).forEachIndexed { i, t -> tensor(t, "$path.inputs[$i]", false) }
        list(stage["outputs"], "$path.outputs", 1, 4).forEachIndexed { i, t -> tensor(t, "$path.outputs[$i]", true) }
        val cost = obj(stage["cost"], "$path.cost")
        required(cost, "latency_ms", "$path.cost")
        optional(cost, "params") { integer(it, "$path.cost.params", 0.0, Double.MAX_VALUE) }
        optional(cost, "macs") { integer(it, "$path.cost.macs", 0.0, Double.MAX_VALUE) }
        number(cost["latency_ms"], "$path.cost.latency_ms", 0.0, 3_600_000.0)
        for (key in listOf("uses_audio", "runs_audio_branch")) optional(stage, key) {
            if (it !is Boolean) fail("$path.$key", "must be of type boolean", it)
        }
        optional(stage, "delegation") { obj(it, "$path.delegation") }
    }

    private fun tensor(value: Any?, path: String, output: Boolean) {
        val tensor = obj(value, path)
        required(tensor, "name", path)
        required(tensor, "shape", path)
        if (output) required(tensor, "role", path)
        name(tensor["name"], "$path.name")
        elements(shape(tensor["shape"], "$path.shape"), "$path.shape")
        optional(tensor, "dtype") { oneOf(it, "$path.dtype", listOf("float32")) }
        optional(tensor, "role") { oneOf(it, "$path.role", ROLES) }
    }

    /** R1 (roles by position) and R3 (one class count, as many labels). */
    private fun roles(manifest: Map<*, *>, stages: List<*>) {
        var classes: Int? = null
        val classification = (manifest["task"] ?: "classification") == "classification"
        stages.forEachIndexed { k, item ->
            val outputs = (item as Map<*, *>)["outputs"] as List<*>
            val roles = outputs.map { (it as Map<*, *>)["role"] as String }
            if (roles.count { it == "logits" } != 1) {
                throw BundleException("manifest: stages[$k].outputs must hold one 'logits' output; " +
                    "received roles ${shown(roles)}")
            }
            if (k < stages.size - 1 && "hidden" !in roles && "audio_token" !in roles) {
                throw BundleException("manifest: stages[$k].outputs lack a 'hidden' output (every stage " +
                    "but the last hands tokens on: 'hidden', or 'audio_token' from the stage of the first " +
                    "audio-visual exit); received roles ${shown(roles)}")
            }
            val at = roles.indexOf("logits")
            val shape = (outputs[at] as Map<*, *>)["shape"] as List<*>
            val width = (shape.last() as Double).toInt()
            if (classification && classes != null && width != classes) {
                throw BundleException("manifest: stages[$k].outputs[$at].shape ends in $width classes; " +
                    "stage 0's logits end in $classes (every exit answers the same classes)")
            }
            if (classes == null) classes = width
        }
        val labels = manifest["labels"] as List<*>
        if (classification && labels.isNotEmpty() && labels.size != classes) {
            throw BundleException("manifest: labels holds ${labels.size} names but the logits have $classes classes")
        }
    }

    /**
     * The schema's `policy` and R4: thresholds for every exit but the last (confidence,
     * entropy, margin, std: K-1; agreement, which needs two exits: K-2), `stage_costs` for
     * every stage (budget), `num_exits` = K (patience); confidence and margin thresholds in
     * [0, 1], the others >= 0; every number finite. [path] names the policy in messages.
     */
    fun checkPolicy(value: Any?, numStages: Int, path: String) {
        val policy = obj(value, path)
        required(policy, "type", path)
        val type = oneOf(policy["type"], "$path.type", POLICY_TYPES) as String
        when (type) {
            "patience" -> { required(policy, "patience", path); required(policy, "num_exits", path) }
            "budget" -> { required(policy, "budget", path); required(policy, "stage_costs", path) }
            else -> required(policy, "thresholds", path)
        }
        val thresholds = if (policy.containsKey("thresholds")) {
            list(policy["thresholds"], "$path.thresholds", 0, 63).mapIndexed { i, x -> finite(x, "$path.thresholds[$i]") }
        } else null
        optional(policy, "patience") { integer(it, "$path.patience", 1.0, 64.0) }
        optional(policy, "num_exits") { integer(it, "$path.num_exits", 1.0, 64.0) }
        optional(policy, "budget") { number(it, "$path.budget", 0.0, 1e300) }
        val costs = if (policy.containsKey("stage_costs")) {
            list(policy["stage_costs"], "$path.stage_costs", 0, 64)
                .mapIndexed { i, x -> number(x, "$path.stage_costs[$i]", 0.0, 1e300) }
        } else null
        optional(policy, "unit") { text(it, "$path.unit", 16, controls = true) }
        when (type) {
            "patience" -> {
                val exits = (policy["num_exits"] as Double).toInt()
                if (exits != numStages) {
                    throw BundleException("manifest: $path.num_exits is $exits but the bundle has $numStages stages")
                }
            }
            "budget" -> if (costs!!.size != numStages) {
                throw BundleException("manifest: $path.stage_costs holds ${costs.size} costs but the bundle has $numStages stages")
            }
            else -> {
                val needed = numStages - if (type == "agreement") 2 else 1
                if (thresholds!!.size != needed) {
                    throw BundleException("manifest: $path.thresholds holds ${thresholds.size} values; a $type policy over " +
                        "$numStages stages needs ${maxOf(needed, 0)}" +
                        if (needed < 0) " (it compares two exits; this bundle has one)" else "")
                }
                val high = if (type == "confidence" || type == "margin") 1.0 else Double.POSITIVE_INFINITY
                thresholds.forEachIndexed { i, x ->
                    if (x < 0.0 || x > high) {
                        throw BundleException("manifest: $path.thresholds[$i] must be in [0, ${if (high == 1.0) "1" else "inf"}] " +
                            "for a $type policy; received ${shown(x)}")
                    }
                }
            }
        }
    }

    // --- the schema's building blocks -----------------------------------------------------

    private fun fail(path: String, expected: String, value: Any?): Nothing =
        throw BundleException("manifest: $path $expected; received ${shown(value)}")

    private fun required(map: Map<*, *>, key: String, path: String) {
        if (!map.containsKey(key)) {
            throw BundleException("manifest: ${if (path.isEmpty()) key else "$path.$key"} is missing")
        }
    }

    private inline fun optional(map: Map<*, *>, key: String, check: (Any?) -> Unit) {
        if (map.containsKey(key)) check(map[key])
    }

    private fun obj(value: Any?, path: String): Map<*, *> =
        value as? Map<*, *> ?: fail(path, "must be of type object", value)

    private fun list(value: Any?, path: String, min: Int, max: Int): List<*> {
        val items = value as? List<*> ?: fail(path, "must be of type array", value)
        if (items.size < min || items.size > max) {
            fail(path, if (min == max) "must hold $min items" else "must hold $min to $max items", value)
        }
        return items
    }

    private fun oneOf(value: Any?, path: String, allowed: List<String?>): Any? {
        if (value !is String? || value !in allowed) fail(path, "must be one of ${shown(allowed)}", value)
        return value
    }

    private fun number(value: Any?, path: String, low: Double, high: Double): Double {
        if (value !is Double) fail(path, "must be of type number", value)
        if (value < low || value > high) fail(path, "must be a number in [${shown(low)}, ${shown(high)}]", value)
        return value
    }

    private fun finite(value: Any?, path: String) = number(value, path, -1e300, 1e300)

    private fun integer(value: Any?, path: String, low: Double, high: Double): Double {
        if (value !is Double || value != floor(value)) fail(path, "must be of type integer", value)
        if (value < low || value > high) fail(path, "must be an integer in [${shown(low)}, ${shown(high)}]", value)
        return value
    }

    private fun text(value: Any?, path: String, maxLength: Int, controls: Boolean): String {
        if (value !is String) fail(path, "must be of type string", value)
        if (value.codePointCount(0, value.length) > maxLength) fail(path, "must be at most $maxLength characters", value)
        if (!controls && value.any { it < ' ' || it == '\u007f' }) fail(path, "must hold no control characters", value)
        return value
    }

    private fun name(value: Any?, path: String) {
        if (text(value, path, 256, controls = true).isEmpty()) fail(path, "must not be empty", value)
    }

    /** A plain file name inside the bundle folder: no separators, no leading dot, no drive. */
    private fun fileName(value: Any?, path: String) {
        val ok = value is String && value.length in 1..128 &&
            (value[0].isAsciiLetterOrDigit() || value[0] == '_') &&
            value.all { it.isAsciiLetterOrDigit() || it == '_' || it == '.' || it == '-' }
        if (!ok) fail(path, "must be a plain file name inside the bundle (letters, digits, '_', '.', '-'; " +
            "no folders, no leading dot)", value)
    }

    private fun Char.isAsciiLetterOrDigit() = this in 'a'..'z' || this in 'A'..'Z' || this in '0'..'9'

    private fun shape(value: Any?, path: String): List<Double> =
        list(value, path, 1, 6).mapIndexed { i, x -> integer(x, "$path[$i]", 1.0, 1_048_576.0) }

    /** R2: a shape's element count, refused past [MAX_TENSOR_ELEMENTS] (no overflow: dims <= 2^20). */
    private fun elements(shape: List<Double>, path: String) {
        var count = 1.0
        for (dimension in shape) count *= dimension
        if (count > MAX_TENSOR_ELEMENTS) {
            throw BundleException("manifest: $path ${shown(shape)} has more than $MAX_TENSOR_ELEMENTS elements")
        }
    }

    private fun kind(value: Any?) = when (value) {
        null -> "null"
        is Map<*, *> -> "an object"
        is List<*> -> "an array"
        is String -> "a string"
        is Double -> "a number"
        is Boolean -> "a boolean"
        else -> value::class.simpleName ?: "?"
    }

    /** A value as one short line of JSON: control characters escaped, at most 80 characters. */
    fun shown(value: Any?): String {
        val text = json(value)
        return if (text.length <= 80) text else text.take(77) + "..."
    }

    private fun json(value: Any?): String = when (value) {
        null -> "null"
        is String -> buildString {
            append('\'')
            for (c in value.take(200)) when {
                c == '\n' -> append("\\n")
                c == '\\' -> append("\\\\")
                c < ' ' || c == '\u007f' -> append("\\u%04x".format(c.code))
                else -> append(c)
            }
            append('\'')
        }
        is Double -> if (value == floor(value) && Math.abs(value) < 1e15) value.toLong().toString() else value.toString()
        is List<*> -> value.take(20).joinToString(", ", "[", if (value.size > 20) ", ...]" else "]") { json(it) }
        is Map<*, *> -> value.entries.take(10).joinToString(", ", "{", "}") { "${json(it.key)}: ${json(it.value)}" }
        else -> value.toString()
    }
}
