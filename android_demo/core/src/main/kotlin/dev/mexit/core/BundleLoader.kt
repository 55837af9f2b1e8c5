package dev.mexit.core

import java.io.File
import java.io.InputStream
import java.security.MessageDigest

/**
 * Reads and checks a bundle folder: `manifest.json` and the stage files.
 *
 * Everything that could make a run go wrong later is refused here with a
 * [BundleException]: unreadable or non-JSON manifest, unknown format version,
 * a stage file that is missing or whose sha256 differs, a malformed policy.
 */
object BundleLoader {
    const val MANIFEST = "manifest.json"

    fun load(folder: File, verifyChecksums: Boolean = true): Manifest {
        val file = File(folder, MANIFEST)
        if (!file.isFile) throw BundleException("no $MANIFEST in bundle '${folder.path}'")
        return parse(file.readText(), verifyChecksums) { name ->
            File(folder, name).takeIf { it.isFile }?.inputStream()
        }
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
        val root = try {
            Json.parse(text)
        } catch (error: IllegalArgumentException) {
            throw BundleException("manifest is not valid JSON (${error.message})")
        } as? Map<*, *> ?: throw BundleException("manifest must be a JSON object")
        val version = (root["format_version"] as? Double)?.toInt()
        if (version != Manifest.FORMAT_VERSION) {
            throw BundleException("unknown bundle format version ${root["format_version"]}; " +
                "this app reads version ${Manifest.FORMAT_VERSION}")
        }
        val stagesJson = root["stages"] as? List<*>
        if (stagesJson.isNullOrEmpty()) throw BundleException("manifest lists no stages")
        val stages = stagesJson.mapIndexed { index, item ->
            stage(index, item, verifyChecksums, openStage).also { onStageChecked(index, stagesJson.size) }
        }
        val input = root["input"] as? Map<*, *> ?: throw BundleException("manifest has no input spec")
        val range = (input["value_range"] as? List<*>)?.map { it as? Double ?: 0.0 } ?: listOf(0.0, 255.0)
        val calibration = root["calibration"] as? Map<*, *>
        return Manifest(
            formatVersion = version,
            inputShape = ints(input["shape"], "input shape"),
            pixelRange = range[0] to range[1],
            inputKind = input["kind"] as? String ?: "image",
            sampleRate = (input["sample_rate"] as? Double)?.toInt(),
            labels = (root["labels"] as? List<*>)?.map { it.toString() } ?: emptyList(),
            quantization = root["quantization"] as? String ?: "float32",
            stages = stages,
            policy = ExitPolicy.fromJson(root["policy"], stages.size),
            operatingPoints = (calibration?.get("operating_points") as? List<*>).orEmpty()
                .map { point(it, stages.size) },
            expectedAccuracy = calibration?.get("expected_accuracy") as? Double,
        )
    }

    private fun stage(index: Int, item: Any?, verify: Boolean, openStage: (String) -> InputStream?): StageSpec {
        val fields = item as? Map<*, *> ?: throw BundleException("stage $index is not an object")
        val name = fields["file"] as? String ?: throw BundleException("stage $index names no file")
        val sha = fields["sha256"] as? String ?: throw BundleException("stage $index has no sha256")
        if (verify) {
            val stream = openStage(name) ?: throw BundleException("stage file '$name' is missing")
            val actual = stream.use(::sha256Hex)
            if (!actual.equals(sha, ignoreCase = true)) {
                throw BundleException("stage file '$name' is corrupted: sha256 $actual, " +
                    "manifest says $sha")
            }
        }
        val inputs = fields["inputs"] as? List<*>
        val cost = fields["cost"] as? Map<*, *>
        return StageSpec(
            index = index,
            file = name,
            sha256 = sha,
            exit = fields["exit"] as? String ?: "exit_$index",
            inputShape = ints((inputs?.firstOrNull() as? Map<*, *>)?.get("shape"), "stage $index input shape"),
            latencyMs = cost?.get("latency_ms") as? Double ?: 0.0,
            macs = cost?.get("macs") as? Double ?: 0.0,
            inputs = tensors(inputs, index) { name, _ -> TensorSpec.inputRole(name) },
            outputs = tensors(fields["outputs"] as? List<*>, index) { name, item ->
                item["role"] as? String ?: throw BundleException("stage $index output '$name' has no role")
            },
        )
    }

    private fun tensors(items: List<*>?, index: Int, role: (String, Map<*, *>) -> String): List<TensorSpec> =
        items.orEmpty().map { item ->
            val fields = item as? Map<*, *> ?: throw BundleException("stage $index tensor is not an object")
            val name = fields["name"] as? String ?: throw BundleException("stage $index tensor has no name")
            TensorSpec(name, role(name, fields), ints(fields["shape"], "stage $index '$name' shape"))
        }

    private fun point(item: Any?, numStages: Int): OperatingPoint {
        val fields = item as? Map<*, *> ?: throw BundleException("operating point is not an object")
        return OperatingPoint(
            label = fields["label"] as? String ?: "",
            policy = ExitPolicy.fromJson(fields["policy"], numStages),
            expectedAccuracy = fields["expected_accuracy"] as? Double ?: Double.NaN,
            expectedSpeedup = fields["expected_speedup"] as? Double ?: Double.NaN,
        )
    }

    private fun ints(value: Any?, what: String): List<Int> =
        (value as? List<*>)?.map { (it as? Double)?.toInt() ?: throw BundleException("bad $what") }
            ?: throw BundleException("manifest has no $what")

    fun sha256Hex(file: File): String = file.inputStream().use(::sha256Hex)

    fun sha256Hex(stream: InputStream): String {
        val digest = MessageDigest.getInstance("SHA-256")
        val buffer = ByteArray(1 shl 16)
        while (true) {
            val read = stream.read(buffer)
            if (read < 0) break
            digest.update(buffer, 0, read)
        }
        return digest.digest().joinToString("") { "%02x".format(it) }
    }
}
