package dev.mexit.core

import java.io.File
import java.io.InputStream
import java.security.MessageDigest

/**
 * Reads and checks a bundle folder: `manifest.json` and the stage files.
 *
 * A bundle is untrusted input. The manifest is held to [ManifestContract] (the JSON
 * Schema and rules Python's `validate_manifest` applies, field by field) before anything
 * reads it; then every stage file must be a regular file inside the bundle folder (a
 * symlink leading out is refused), of 1 byte to 2 GiB, of the size the manifest records
 * and with its sha256. Every refusal is a [BundleException] with one line that names the
 * field or file.
 */
object BundleLoader {
    const val MANIFEST = "manifest.json"

    fun load(folder: File, verifyChecksums: Boolean = true): Manifest {
        val file = File(folder, MANIFEST)
        if (!file.isFile) throw BundleException("no $MANIFEST in bundle '${folder.path}'")
        if (file.length() > ManifestContract.MAX_MANIFEST_BYTES) {
            throw BundleException("$MANIFEST is ${file.length()} bytes; a manifest is at most " +
                "${ManifestContract.MAX_MANIFEST_BYTES} bytes")
        }
        val inside = folder.canonicalFile
        return parse(file.readText(), verifyChecksums) { name -> stageFile(inside, name)?.inputStream() }
    }

    /**
     * The stage file [name] in [folder] (canonical), or null when missing; refused when it
     * (or a symlink on the way) leads outside the folder, or is not a regular file.
     */
    fun stageFile(folder: File, name: String): File? {
        val file = File(folder, name)
        if (!file.exists()) return null
        val resolved = file.canonicalFile
        if (resolved.parentFile != folder) {
            throw BundleException("stage file '$name' leads outside the bundle (to '${resolved.path}'); refusing to read it")
        }
        if (!resolved.isFile) throw BundleException("stage file '$name' is not a regular file")
        return resolved
    }

    /**
     * Parses manifest text. [openStage] opens a stage file by name for its
     * checksum (null: missing), so a bundle is checked where it lies (a folder,
     * an APK's assets) without copying it; [onStageChecked] reports each stage.
     */
    fun parse(
        text: String,
        verifyChecksums: Boolean = true,
        onStageChecked: (index: Int, count: Int) -> Unit = { _, _ -> },
        openStage: (String) -> InputStream?,
    ): Manifest {
        val bytes = utf8Length(text)
        if (bytes > ManifestContract.MAX_MANIFEST_BYTES) {
            throw BundleException("manifest is $bytes bytes; a manifest is at most ${ManifestContract.MAX_MANIFEST_BYTES} bytes")
        }
        val parsed = try {
            Json.parse(text)
        } catch (error: IllegalArgumentException) {
            val message = error.message ?: "unreadable"
            throw BundleException(if ("nests deeper" in message) "manifest: $message"
                else "manifest is not valid JSON (${message.take(200)})")
        }
        val root = ManifestContract.check(parsed)
        val stagesJson = root["stages"] as List<*>
        val stages = stagesJson.mapIndexed { index, item ->
            stage(index, item as Map<*, *>, verifyChecksums, openStage).also { onStageChecked(index, stagesJson.size) }
        }
        val input = root["input"] as Map<*, *>
        val range = (input["value_range"] as? List<*>)?.map { it as Double } ?: listOf(0.0, 255.0)
        val calibration = root["calibration"] as? Map<*, *>
        val points = ArrayList<OperatingPoint>()
        val skipped = ArrayList<String>()
        (calibration?.get("operating_points") as? List<*>).orEmpty().forEachIndexed { i, item ->
            try {
                points.add(point(item, stages.size, "calibration.operating_points[$i]"))
            } catch (error: BundleException) {
                skipped.add(error.message!!)
            }
        }
        return Manifest(
            formatVersion = Manifest.FORMAT_VERSION,
            inputShape = ints(input["shape"]),
            pixelRange = range[0] to range[1],
            inputKind = input["kind"] as? String ?: "image",
            sampleRate = (input["sample_rate"] as? Double)?.toInt(),
            labels = (root["labels"] as List<*>).map { it as String },
            quantization = root["quantization"] as String,
            stages = stages,
            policy = ExitPolicy.fromJson(root["policy"], stages.size),
            operatingPoints = points,
            expectedAccuracy = (calibration?.get("expected_accuracy") as? Double)?.takeIf { it.isFinite() },
            task = root["task"] as? String ?: "classification",
            output = root["output"] as? String ?: "logits",
            skippedOperatingPoints = skipped,
        )
    }

    private fun stage(index: Int, fields: Map<*, *>, verify: Boolean, openStage: (String) -> InputStream?): StageSpec {
        val name = fields["file"] as String
        val sha = fields["sha256"] as String
        val recorded = (fields["bytes"] as? Double)?.toLong()
        if (verify) {
            val stream = openStage(name) ?: throw BundleException("stage file '$name' is missing")
            val (actual, size) = stream.use(::sha256AndSize)
            if (size == 0L || size > ManifestContract.MAX_STAGE_BYTES) {
                throw BundleException("stage file '$name' is $size bytes; expected 1 to ${ManifestContract.MAX_STAGE_BYTES}")
            }
            if (recorded != null && size != recorded) {
                throw BundleException("stage file '$name' is $size bytes; the manifest says $recorded")
            }
            if (actual != sha) {
                throw BundleException("stage file '$name' is corrupted: sha256 $actual, manifest says $sha")
            }
        }
        val inputs = fields["inputs"] as List<*>
        val cost = fields["cost"] as Map<*, *>
        return StageSpec(
            index = index,
            file = name,
            sha256 = sha,
            exit = fields["exit"] as String,
            inputShape = ints((inputs.first() as Map<*, *>)["shape"]),
            latencyMs = cost["latency_ms"] as Double,
            macs = cost["macs"] as? Double ?: 0.0,
            inputs = tensors(inputs) { name, _ -> TensorSpec.inputRole(name) },
            outputs = tensors(fields["outputs"] as List<*>) { _, item -> item["role"] as String },
            bytes = recorded,
        )
    }

    private fun tensors(items: List<*>, role: (String, Map<*, *>) -> String): List<TensorSpec> =
        items.map { item ->
            val fields = item as Map<*, *>
            val name = fields["name"] as String
            TensorSpec(name, role(name, fields), ints(fields["shape"]))
        }

    /** An operating point the picker can offer; its policy is checked as the bundle's is. */
    private fun point(item: Any?, numStages: Int, path: String): OperatingPoint {
        val fields = item as? Map<*, *> ?: throw BundleException("$path is not an object")
        val label = fields["label"] as? String ?: ""
        if (label.length > 256 || label.any { it < ' ' || it == '\u007f' }) {
            throw BundleException("$path.label must be one line of at most 256 characters")
        }
        return OperatingPoint(
            label = label,
            policy = ExitPolicy.fromJson(fields["policy"], numStages, "$path.policy"),
            expectedAccuracy = fields["expected_accuracy"] as? Double ?: Double.NaN,
            expectedSpeedup = fields["expected_speedup"] as? Double ?: Double.NaN,
        )
    }

    /** A shape the contract already checked: 1 to 6 integers in [1, 2^20]. */
    private fun ints(value: Any?): List<Int> = (value as List<*>).map { (it as Double).toInt() }

    private fun utf8Length(text: String): Long {
        if (text.length > ManifestContract.MAX_MANIFEST_BYTES) return text.length.toLong()
        var bytes = 0L
        for (c in text) bytes += when {
            c.code < 0x80 -> 1
            c.code < 0x800 -> 2
            Character.isSurrogate(c) -> 2  // a pair is 4 bytes
            else -> 3
        }
        return bytes
    }

    fun sha256Hex(file: File): String = file.inputStream().use(::sha256Hex)

    fun sha256Hex(stream: InputStream): String = sha256AndSize(stream).first

    private fun sha256AndSize(stream: InputStream): Pair<String, Long> {
        val digest = MessageDigest.getInstance("SHA-256")
        val buffer = ByteArray(1 shl 16)
        var size = 0L
        while (true) {
            val read = stream.read(buffer)
            if (read < 0) break
            digest.update(buffer, 0, read)
            size += read
            if (size > ManifestContract.MAX_STAGE_BYTES) break
        }
        return digest.digest().joinToString("") { "%02x".format(it) } to size
    }
}
