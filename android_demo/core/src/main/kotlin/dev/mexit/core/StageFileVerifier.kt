package dev.mexit.core

/**
 * Checks a stage file before any runtime sees it. LiteRT's `LiteRtCreateModelFromFile`
 * does not verify the flatbuffer it is handed: a malformed one (a truncated or bit-flipped
 * file whose checksum was updated to match) crashes the process inside native code. And a
 * well-formed flatbuffer still crashes it when its graph is inconsistent (found by fuzzing:
 * an operator input index changed, so a kernel computes another shape than the file
 * declares and writes past the buffers LiteRT sized by the declared one). So:
 *
 * - every table, vtable, vector and string LiteRT follows from the root (Model ->
 *   subgraphs -> tensors, operators, operator codes, buffers, signature defs, metadata)
 *   is bounds-checked and aligned, every index it holds in range, the size bounded;
 * - each subgraph's data flow runs in order, and the operators whose shape rule is simple
 *   (Shapes) compute the shapes the file declares; constants fill their shapes;
 * - the model's inputs and outputs match the manifest's stage spec (names, shapes, float32).
 *
 * Pure Kotlin, so the JVM runner and the Android app share it.
 *
 * Field ids follow the TFLite schema (`tflite/converter/schema/schema.fbs`,
 * `file_identifier "TFL3"`): a field's id is its position in its table, a union
 * taking two (its type, then its value).
 *
 * Example:
 * ```
 * val bytes = File(folder, spec.file).readBytes()
 * StageFileVerifier.verify(bytes, spec)   // throws BundleException, one line
 * ```
 */
object StageFileVerifier {
    /** Larger stage files are refused: this project's stages are a few MB. */
    const val MAX_BYTES = 1 shl 30

    /** LiteRT's LITERT_TENSOR_MAX_RANK: a deeper tensor does not fit its layout. */
    const val MAX_RANK = 8

    /** The schema version LiteRT reads (Model.version). */
    const val SCHEMA_VERSION = 3L

    /** TensorType.FLOAT32 and INT32 in the schema. */
    const val FLOAT32 = 0
    private const val INT32 = 2

    /** One input or output of the model, under the name the runtime will give it. */
    data class Port(val name: String, val shape: List<Int>, val type: Int)

    /** What the model offers: its signature's inputs and outputs, in order. */
    data class Summary(val inputs: List<Port>, val outputs: List<Port>)

    /** Verifies [bytes] as [spec]'s stage file; throws [BundleException] naming what is wrong. */
    fun verify(bytes: ByteArray, spec: StageSpec): Summary {
        val summary = read(bytes, spec.file)
        match(spec.file, "input", summary.inputs, spec.inputs)
        match(spec.file, "output", summary.outputs, spec.outputs)
        return summary
    }

    /** Verifies [bytes] as a TFLite model (no manifest); [file] names it in errors. */
    fun read(bytes: ByteArray, file: String): Summary {
        val flat = Flat(bytes, file)
        if (bytes.size > MAX_BYTES) flat.bad("${bytes.size} bytes, over the limit of $MAX_BYTES")
        if (bytes.size < 8) flat.bad("${bytes.size} bytes, too short for a flatbuffer")
        val identifier = String(bytes, 4, 4, Charsets.ISO_8859_1)
        if (identifier != "TFL3") flat.bad("file identifier '${printable(identifier)}', not 'TFL3'")
        return model(flat.table(flat.follow(0, "root table offset"), "root table"))
    }

    private fun model(model: Table): Summary {
        val flat = model.flat
        val version = model.uint(0)
        if (version != SCHEMA_VERSION) flat.bad("schema version $version; LiteRT reads version $SCHEMA_VERSION")
        if ((model.vector(8, 4, "external_buffer_groups")?.count ?: 0) > 0 ||
            (model.vector(9, 4, "external_buffers")?.count ?: 0) > 0) {
            flat.bad("it refers to external weight files")
        }
        val buffers = model.tables(4, "buffers")
        for ((index, buffer) in buffers.withIndex()) {
            buffer.vector(0, 1, "buffers[$index].data")
            val offset = buffer.ulong(1)
            val size = buffer.ulong(2)
            // Data past 2 GB lies after the flatbuffer, at an offset from the file's start.
            if (offset > 1 && (size < 0 || offset < 0 || offset > flat.size - size)) {
                flat.bad("buffers[$index] reaches bytes $offset..+$size of ${flat.size}")
            }
        }
        // A builtin's code: the larger of the old byte field and the newer int one (as TFLite's GetBuiltinCode).
        val codes = model.tables(1, "operator_codes").mapIndexed { index, code ->
            code.string(1, "operator_codes[$index].custom_code")
            code.int(2)
            maxOf(code.byte(0), code.int(3))
        }
        val subgraphs = model.tables(2, "subgraphs")
        if (subgraphs.isEmpty()) flat.bad("it has no subgraphs")
        val tensorCounts = subgraphs.mapIndexed { index, subgraph ->
            subgraph(subgraph, "subgraphs[$index]", codes, buffers)
        }
        model.string(3, "description")
        model.ints(5, "metadata_buffer").forEach { flat.index(it.toLong(), buffers.size, "metadata_buffer") }
        for ((index, metadata) in model.tables(6, "metadata").withIndex()) {
            metadata.string(0, "metadata[$index].name")
            flat.index(metadata.uint(1), buffers.size, "metadata[$index].buffer")
        }
        val signatures = model.tables(7, "signature_defs").mapIndexed { index, signature ->
            val what = "signature_defs[$index]"
            val subgraph = flat.index(signature.uint(4), subgraphs.size, "$what.subgraph_index").toInt()
            signature.string(2, "$what.signature_key")
            fun ports(id: Int, kind: String) = signature.tables(id, "$what.$kind").mapIndexed { at, map ->
                val name = map.string(0, "$what.$kind[$at].name") ?: flat.bad("$what.$kind[$at] has no name")
                name to flat.index(map.uint(1), tensorCounts[subgraph], "$what.$kind[$at].tensor_index")
            }
            Triple(subgraph, ports(0, "inputs"), ports(1, "outputs"))
        }
        // The runtime's first signature: the first signature def, or (files converted from
        // concrete functions have none) subgraph 0's inputs and outputs under tensor names.
        val (subgraphIndex, inputs, outputs) = signatures.firstOrNull() ?: run {
            val subgraph = subgraphs[0]
            val tensors = subgraph.tables(0, "subgraphs[0].tensors")
            fun named(id: Int) = subgraph.ints(id, "subgraphs[0].ports").map { index ->
                (tensors[index].string(3, "tensor name") ?: flat.bad("subgraphs[0] tensor $index has no name")) to
                    index.toLong()
            }
            Triple(0, named(1), named(2))
        }
        val tensors = subgraphs[subgraphIndex].tables(0, "tensors")
        fun port(entry: Pair<String, Long>): Port {
            val tensor = tensors[entry.second.toInt()]
            return Port(entry.first, tensor.ints(0, "shape").toList(), tensor.byte(1))
        }
        return Summary(inputs.map(::port), outputs.map(::port))
    }

    /** Checks one subgraph; returns its tensor count. */
    private fun subgraph(subgraph: Table, what: String, codes: List<Int>, buffers: List<Table>): Int {
        val flat = subgraph.flat
        val tensors = subgraph.tables(0, "$what.tensors")
        val shapes = ArrayList<IntArray>()
        val constants = ArrayList<IntArray?>()  // int32 constants: shapes, axes, slice bounds
        for ((index, tensor) in tensors.withIndex()) {
            val name = "$what.tensors[$index]"
            val shape = tensor.ints(0, "$name.shape")
            shapes.add(shape)
            if (shape.size > MAX_RANK) flat.bad("$name has rank ${shape.size}, over $MAX_RANK")
            if (shape.any { it < -1 }) flat.bad("$name has shape ${shape.toList()}")
            val type = tensor.byte(1)
            if (type !in 0..22) flat.bad("$name has unknown type $type")
            val buffer = flat.index(tensor.uint(2), buffers.size, "$name.buffer").toInt()
            tensor.string(3, "$name.name")
            tensor.table(4, "$name.quantization")?.let { quantization ->
                quantization.vector(0, 4, "$name.quantization.min")
                quantization.vector(1, 4, "$name.quantization.max")
                quantization.vector(2, 4, "$name.quantization.scale")
                quantization.vector(3, 8, "$name.quantization.zero_point")
                quantization.byte(4)
                quantization.table(5, "$name.quantization.details")
                quantization.int(6)
            }
            tensor.table(6, "$name.sparsity")
            tensor.ints(7, "$name.shape_signature")
            if (tensor.uint(10) != 0L) flat.bad("$name refers to an external weight file")
            // A constant shorter than its shape would be read past its end by a kernel.
            val data = buffers[buffer].vector(0, 1, "buffers[$buffer].data")
            constants.add(if (type == INT32 && data != null && data.count > 0 && data.count % 4 == 0L) {
                IntArray((data.count / 4).toInt()) { flat.i32(data.start + 4L * it) }
            } else null)
            val width = ELEMENT_BYTES[type]
            if (data != null && data.count > 0 && width != null && shape.all { it >= 0 }) {
                val needed = shape.fold(width.toLong()) { product, dimension -> product * dimension }
                if (needed != data.count) {
                    flat.bad("$name needs $needed bytes of constant data; its buffer holds ${data.count}")
                }
            }
        }
        fun indices(table: Table, id: Int, name: String, optional: Boolean) = table.ints(id, name).onEach {
            if (!(optional && it == -1)) flat.index(it.toLong(), tensors.size, name)
        }
        // Data flow in run order: an operator reads only what exists by then (an input, a
        // constant, a variable, an earlier operator's output) and writes a tensor nothing
        // else holds. LiteRT runs operators in file order without checking, and reading a
        // tensor not yet written crashes it.
        val written = BooleanArray(tensors.size)
        indices(subgraph, 1, "$what.inputs", optional = false).forEach { written[it] = true }
        for ((index, tensor) in tensors.withIndex()) {
            val data = buffers[tensor.uint(2).toInt()].vector(0, 1, "buffers.data")
            if ((data?.count ?: 0) > 0 || tensor.byte(5) != 0) written[index] = true
        }
        val outputs = indices(subgraph, 2, "$what.outputs", optional = false)
        for ((index, operator) in subgraph.tables(3, "$what.operators").withIndex()) {
            val name = "$what.operators[$index]"
            val code = codes[flat.index(operator.uint(0), codes.size, "$name.opcode_index").toInt()]
            // -1: an omitted optional input.
            val inputs = indices(operator, 1, "$name.inputs", optional = true)
            inputs.filter { it != -1 }.forEach {
                if (!written[it]) flat.bad("$name reads tensor $it before anything writes it")
            }
            val results = indices(operator, 2, "$name.outputs", optional = false)
            results.forEach {
                if (written[it]) flat.bad("$name writes tensor $it, which already holds a value")
                written[it] = true
            }
            // Shapes: the kernels compute their own and write past buffers of the declared ones.
            val options = operator.table(4, "$name.builtin_options")
            val optionsType = operator.byte(3) and 0xff
            val operands = inputs.map { if (it == -1) null else shapes[it] }
            val declared = results.singleOrNull()?.let { shapes[it] }
            val computed = Shapes.computed(code, operands, { inputs.getOrNull(it)?.takeIf { it >= 0 }?.let(constants::get) },
                options.takeIf { optionsType == Shapes.optionsTag(code) }, declared) { why ->
                flat.bad("$name (builtin $code): $why")
            }
            if (computed != null && results.size == 1 && shapes[results[0]].all { it >= 0 } &&
                computed != shapes[results[0]].toList()) {
                flat.bad("$name (builtin $code) computes shape $computed for tensor ${results[0]}; " +
                    "the file declares ${shapes[results[0]].toList()}")
            }
            operator.vector(5, 1, "$name.custom_options")
            operator.byte(6)
            operator.vector(7, 1, "$name.mutating_variable_inputs")
            indices(operator, 8, "$name.intermediates", optional = false)
            // Custom options past 2 GB: like buffers, an offset from the file's start.
            val offset = operator.ulong(9)
            val size = operator.ulong(10)
            if (offset > 1 && (size < 0 || offset < 0 || offset > flat.size - size)) {
                flat.bad("$name custom options reach bytes $offset..+$size of ${flat.size}")
            }
            operator.byte(11)
            operator.table(12, "$name.builtin_options_2")
            operator.int(13)
        }
        outputs.firstOrNull { !written[it] }?.let { flat.bad("$what output $it is never written") }
        subgraph.string(4, "$what.name")
        subgraph.int(5)
        return tensors.size
    }

    private fun match(file: String, kind: String, model: List<Port>, listed: List<TensorSpec>) {
        val names = model.joinToString(", ") { "'${it.name}'" }.ifEmpty { "none" }
        for (tensor in listed) {
            if (model.none { it.name == tensor.name }) {
                throw BundleException("stage file '$file' has no $kind '${tensor.name}' " +
                    "(the manifest lists it; the file's ${kind}s: $names)")
            }
        }
        for (port in model) {
            val tensor = listed.firstOrNull { it.name == port.name } ?: throw BundleException(
                "stage file '$file' has $kind '${port.name}', which the manifest does not list")
            if (port.type != FLOAT32) {
                throw BundleException("stage file '$file' $kind '${port.name}' holds " +
                    "${TYPE_NAMES.getOrElse(port.type) { "type ${port.type}" }}, not float32")
            }
            if (port.shape != tensor.shape) {
                throw BundleException("stage file '$file' $kind '${port.name}' has shape ${port.shape}; " +
                    "the manifest says ${tensor.shape}")
            }
        }
    }

    private fun printable(text: String) = text.map { if (it in ' '..'~') it else '?' }.joinToString("")

    private val TYPE_NAMES = listOf("float32", "float16", "int32", "uint8", "int64", "string", "bool",
        "int16", "complex64", "int8", "float64", "complex128", "uint64", "resource", "variant", "uint32",
        "uint16", "int4", "bfloat16", "int2", "uint4", "float8_e4m3fn", "float8_e5m2")

    /** Bytes per element of the fixed-width types (the packed and variable ones are left out). */
    private val ELEMENT_BYTES = mapOf(0 to 4, 1 to 2, 2 to 4, 3 to 1, 4 to 8, 6 to 1, 7 to 2, 8 to 8,
        9 to 1, 10 to 8, 11 to 16, 12 to 8, 15 to 4, 16 to 2, 18 to 2, 21 to 1, 22 to 1)
}

/**
 * Output shapes of the builtin operators whose rule is simple, from their input shapes and
 * int32 constants, as TFLite's kernels compute them (null: no rule here, or an input of
 * unknown size). LiteRT sizes buffers by the shapes the file declares while its kernels
 * write the shapes they compute, so a file whose operators disagree with its declared
 * shapes crashes it (found by fuzzing: one operator input index changed). Covers the
 * operators of this project's stages; others go unchecked.
 */
private object Shapes {
    // Builtin codes (schema.fbs BuiltinOperator) and their options' union tags (BuiltinOptions).
    private const val FULLY_CONNECTED = 9
    private const val RESHAPE = 22
    private const val TRANSPOSE = 39
    private const val STRIDED_SLICE = 45
    private const val BATCH_MATMUL = 126
    /** MEAN, SUM, REDUCE_PROD, REDUCE_MAX, REDUCE_MIN. */
    private val REDUCE = setOf(40, 74, 81, 82, 89)
    /** One input, output of its shape: LOGISTIC, RELU, RELU6, SOFTMAX, TANH, EXP, NEG, SIN, LOG,
     *  SQRT, RSQRT, SQUARE, LEAKY_RELU, ABS, COS, ELU, HARD_SWISH, GELU. */
    private val UNARY = setOf(14, 19, 21, 25, 28, 47, 59, 66, 73, 75, 76, 92, 98, 101, 108, 111, 117, 150)
    /** Two inputs broadcast: ADD, MUL, SUB, DIV, MAXIMUM, MINIMUM, POW, FLOOR_DIV, SQUARED_DIFFERENCE. */
    private val BINARY = setOf(0, 18, 41, 42, 55, 57, 78, 90, 99)

    /** The BuiltinOptions tag whose table the rule for [code] reads (LiteRT ignores another). */
    fun optionsTag(code: Int) = when (code) {
        FULLY_CONNECTED -> 8
        in REDUCE -> 27
        STRIDED_SLICE -> 32
        BATCH_MATMUL -> 101
        else -> -1
    }

    fun computed(code: Int, inputs: List<IntArray?>, constant: (Int) -> IntArray?, options: Table?,
                 declared: IntArray?, bad: (String) -> Nothing): List<Int>? {
        if (inputs.any { shape -> shape != null && shape.any { it < 0 } }) return null
        val x = inputs.getOrNull(0) ?: return null
        fun elements(shape: IntArray) = shape.fold(1L) { product, dimension -> product * dimension }
        fun flag(id: Int) = (options?.byte(id) ?: 0) != 0
        return when (code) {
            in UNARY -> if (inputs.size == 1) x.toList() else null
            in BINARY -> inputs.getOrNull(1)?.takeIf { inputs.size == 2 }?.let { broadcast(x, it, bad) }
            FULLY_CONNECTED -> {
                val weights = inputs.getOrNull(1) ?: return null
                if (weights.size != 2 || x.isEmpty() || weights[1] == 0) bad("weights of shape ${weights.toList()}")
                val (units, depth) = weights[0] to weights[1]
                when {
                    flag(2) && x.last() != depth -> bad("input ${x.toList()} against weights ${weights.toList()}")
                    flag(2) -> x.dropLast(1) + units  // keep_num_dims
                    elements(x) % depth != 0L -> bad("input ${x.toList()} against weights ${weights.toList()}")
                    else -> listOf((elements(x) / depth).toInt(), units)
                }
            }
            BATCH_MATMUL -> {
                val y = inputs.getOrNull(1)?.takeIf { inputs.size == 2 } ?: return null
                if (x.size < 2 || y.size < 2) bad("operands of rank ${x.size} and ${y.size}")
                val (m, k) = if (flag(0)) x[x.size - 1] to x[x.size - 2] else x[x.size - 2] to x[x.size - 1]
                val (k2, n) = if (flag(1)) y[y.size - 1] to y[y.size - 2] else y[y.size - 2] to y[y.size - 1]
                if (k != k2) bad("operands ${x.toList()} and ${y.toList()} do not multiply")
                broadcast(x.copyOf(x.size - 2), y.copyOf(y.size - 2), bad) + listOf(m, n)
            }
            RESHAPE -> declared?.takeIf { shape -> shape.all { it >= 0 } }?.let { shape ->
                if (elements(shape) != elements(x)) bad("reshapes ${x.toList()} to ${shape.toList()}")
                shape.toList()
            }
            TRANSPOSE -> constant(1)?.let { perm ->
                if (perm.sorted() != x.indices.toList()) bad("permutation ${perm.toList()} of a rank-${x.size} input")
                perm.map { x[it] }
            }
            in REDUCE -> constant(1)?.takeIf { it.isNotEmpty() }?.let { axes ->
                val reduced = axes.map { if (it < 0) it + x.size else it }.toSet()
                if (reduced.any { it !in x.indices }) bad("axes ${axes.toList()} of a rank-${x.size} input")
                x.indices.mapNotNull { if (it !in reduced) x[it] else if (flag(0)) 1 else null }
            }
            STRIDED_SLICE -> stridedSlice(x, constant(1), constant(2), constant(3), options, bad)
            else -> null
        }
    }

    /** TFLite's strided_slice ResizeOutputTensor (StartForAxis, EndForAxis), without ellipsis,
     *  new axes or offset (those go unchecked). */
    private fun stridedSlice(x: IntArray, begin: IntArray?, end: IntArray?, strides: IntArray?, options: Table?,
                             bad: (String) -> Nothing): List<Int>? {
        if (begin == null || end == null || strides == null) return null
        if (begin.size != x.size || end.size != x.size || strides.size != x.size) return null
        val (beginMask, endMask) = (options?.int(0) ?: 0) to (options?.int(1) ?: 0)
        if ((options?.int(2) ?: 0) != 0 || (options?.int(3) ?: 0) != 0 || (options?.byte(5) ?: 0) != 0) return null
        val shrinkMask = options?.int(4) ?: 0
        return x.indices.mapNotNull { axis ->
            val size = x[axis].toLong()
            val stride = strides[axis].toLong()
            if (stride == 0L) bad("stride 0")
            if (shrinkMask shr axis and 1 == 1) return@mapNotNull null
            fun clamp(value: Long) = (if (value < 0) value + size else value).let {
                if (stride > 0) it.coerceIn(0, size) else it.coerceIn(-1, size - 1)
            }
            val start = if (beginMask shr axis and 1 == 1) (if (stride > 0) 0 else size - 1) else clamp(begin[axis].toLong())
            val stop = if (endMask shr axis and 1 == 1) (if (stride > 0) size else -1) else clamp(end[axis].toLong())
            val span = stop - start
            when {
                (span < 0) != (stride < 0) -> 0
                stride < 0 -> ((span + 1) / stride + 1).toInt()
                span == 0L -> 0
                else -> ((span - 1) / stride + 1).toInt()
            }
        }
    }

    private fun broadcast(a: IntArray, b: IntArray, bad: (String) -> Nothing): List<Int> {
        val rank = maxOf(a.size, b.size)
        return (0 until rank).map { at ->
            val p = a.getOrElse(a.size - rank + at) { 1 }
            val q = b.getOrElse(b.size - rank + at) { 1 }
            when {
                p == q || q == 1 -> p
                p == 1 -> q
                else -> bad("shapes ${a.toList()} and ${b.toList()} do not broadcast")
            }
        }
    }
}

/** The file's bytes, read little-endian; every read position is checked first by its caller. */
private class Flat(val bytes: ByteArray, val file: String) {
    val size = bytes.size.toLong()

    fun bad(why: String): Nothing =
        throw BundleException("stage file '$file' is not a valid TFLite model: $why")

    fun check(at: Long, length: Long, what: String) {
        if (at < 0 || length < 0 || at > size - length) {
            bad("$what (bytes $at..+$length) runs past the end of the file ($size bytes)")
        }
    }

    fun aligned(at: Long, width: Int, what: String) {
        if (at % width != 0L) bad("$what at byte $at is not $width-byte aligned")
    }

    /** [value] as an index into [count] items. */
    fun index(value: Long, count: Int, what: String): Long {
        if (value < 0 || value >= count) bad("$what is $value; there are $count")
        return value
    }

    fun u8(at: Long) = bytes[at.toInt()].toInt() and 0xff
    fun u16(at: Long) = u8(at) or (u8(at + 1) shl 8)
    fun i32(at: Long) = u16(at) or (u16(at + 2) shl 16)
    fun u32(at: Long) = i32(at).toLong() and 0xffffffffL
    fun i64(at: Long) = u32(at) or (u32(at + 4) shl 32)

    /** Where the uoffset at [at] points. */
    fun follow(at: Long, what: String): Long {
        check(at, 4, what)
        aligned(at, 4, what)
        return at + u32(at)
    }

    fun table(at: Long, what: String): Table {
        check(at, 4, what)
        aligned(at, 4, what)
        val vtable = at - i32(at)
        check(vtable, 4, "$what vtable")
        aligned(vtable, 2, "$what vtable")
        val vtableSize = u16(vtable)
        val objectSize = u16(vtable + 2)
        if (vtableSize < 4 || vtableSize % 2 != 0) bad("$what vtable is $vtableSize bytes")
        check(vtable, vtableSize.toLong(), "$what vtable")
        if (objectSize < 4) bad("$what is $objectSize bytes")
        check(at, objectSize.toLong(), what)
        return Table(this, at, vtable, vtableSize, objectSize, what)
    }
}

/** A vector's elements: [count] of them from byte [start]. */
private class Vector(val start: Long, val count: Long)

private class Table(val flat: Flat, val at: Long, val vtable: Long, val vtableSize: Int, val objectSize: Int,
                    val what: String) {
    fun has(id: Int) = 4 + 2 * id + 2 <= vtableSize && flat.u16(vtable + 4 + 2 * id) != 0

    /** The position of field [id] ([width] bytes wide), or null when absent. */
    private fun field(id: Int, width: Int): Long? {
        if (!has(id)) return null
        val offset = flat.u16(vtable + 4 + 2 * id)
        if (offset < 4 || offset + width > objectSize) flat.bad("$what field $id lies outside its table")
        flat.aligned(at + offset, width, "$what field $id")
        return at + offset
    }

    fun byte(id: Int) = field(id, 1)?.let { flat.bytes[it.toInt()].toInt() } ?: 0
    fun int(id: Int) = field(id, 4)?.let { flat.i32(it) } ?: 0
    fun uint(id: Int) = field(id, 4)?.let { flat.u32(it) } ?: 0L
    fun ulong(id: Int) = field(id, 8)?.let { flat.i64(it) } ?: 0L

    fun table(id: Int, name: String): Table? = field(id, 4)?.let { flat.table(flat.follow(it, name), name) }

    fun vector(id: Int, width: Int, name: String): Vector? {
        val at = flat.follow(field(id, 4) ?: return null, name)
        flat.check(at, 4, name)
        flat.aligned(at, 4, name)
        val count = flat.u32(at)
        flat.check(at + 4, count * width, name)
        return Vector(at + 4, count)
    }

    fun ints(id: Int, name: String): IntArray {
        val vector = vector(id, 4, name) ?: return IntArray(0)
        return IntArray(vector.count.toInt()) { flat.i32(vector.start + 4L * it) }
    }

    fun tables(id: Int, name: String): List<Table> {
        val vector = vector(id, 4, name) ?: return emptyList()
        return (0 until vector.count.toInt()).map { flat.table(flat.follow(vector.start + 4L * it, "$name[$it]"), "$name[$it]") }
    }

    /** A string field: UTF-8 bytes and a terminating zero, all inside the file. */
    fun string(id: Int, name: String): String? {
        val vector = vector(id, 1, name) ?: return null
        flat.check(vector.start, vector.count + 1, name)
        if (flat.bytes[(vector.start + vector.count).toInt()].toInt() != 0) flat.bad("$name is not zero-terminated")
        return String(flat.bytes, vector.start.toInt(), vector.count.toInt(), Charsets.UTF_8)
    }
}
