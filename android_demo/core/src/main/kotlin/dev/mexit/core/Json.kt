package dev.mexit.core

/**
 * A small strict JSON reader (RFC 8259) for manifests and fixtures, so the core needs no
 * library. Objects become `Map<String, Any?>` (a repeated key keeps its last value, as
 * Python's `json`), arrays `List<Any?>`, numbers `Double`.
 *
 * A manifest is untrusted input, so the reader is bounded: at most [maxChars] characters,
 * at most [maxDepth] nested arrays/objects (the top level is 1; no recursion deeper than
 * that, whatever the text), finite numbers only (no `NaN`/`Infinity` literals, nothing
 * that overflows a double), no raw control characters inside strings, JSON whitespace
 * only. Every refusal is an [IllegalArgumentException] with one line that says where.
 */
object Json {
    /** As the manifest contract (manifest.schema.json, Python's `MAX_NESTING`). */
    const val MAX_DEPTH = 64

    fun parse(text: String, maxDepth: Int = MAX_DEPTH, maxChars: Int = Int.MAX_VALUE): Any? {
        if (text.length > maxChars) throw IllegalArgumentException("JSON: ${text.length} characters; at most $maxChars")
        val reader = Reader(text, maxDepth)
        val value = reader.value()
        reader.skipSpace()
        if (!reader.atEnd()) throw reader.error("unexpected trailing text")
        return value
    }

    private class Reader(private val text: String, private val maxDepth: Int) {
        private var at = 0
        private var depth = 0
        /** Keys and indices from the top to the value being read, for error messages. */
        private val path = ArrayList<Any>()

        fun atEnd() = at >= text.length

        fun error(what: String) = IllegalArgumentException("JSON: $what at offset $at")

        fun skipSpace() {
            while (!atEnd() && (text[at] == ' ' || text[at] == '\n' || text[at] == '\r' || text[at] == '\t')) at++
        }

        fun value(): Any? {
            skipSpace()
            if (atEnd()) throw error("unexpected end")
            return when (val c = text[at]) {
                '{' -> obj()
                '[' -> array()
                '"' -> string()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> if (c == '-' || c in '0'..'9') number()
                    else throw error("unexpected ${if (c == 'N' || c == 'I') "'$c' (NaN and Infinity are not JSON numbers)" else "'${printable(c)}'"}")
            }
        }

        private fun printable(c: Char) = if (c < ' ' || c == '\u007f') "\\u%04x".format(c.code) else c.toString()

        private fun literal(word: String, result: Any?): Any? {
            if (!text.startsWith(word, at)) throw error("bad literal")
            at += word.length
            return result
        }

        private fun digits(): Int {
            val start = at
            while (!atEnd() && text[at] in '0'..'9') at++
            return at - start
        }

        private fun number(): Double {
            val start = at
            if (text[at] == '-') at++
            if (!atEnd() && text[at] == 'I') throw error("-Infinity is not a JSON number")
            if (!atEnd() && text[at] == '0') at++ else if (digits() == 0) throw error("bad number")
            if (!atEnd() && text[at] == '.') {
                at++
                if (digits() == 0) throw error("bad number")
            }
            if (!atEnd() && (text[at] == 'e' || text[at] == 'E')) {
                at++
                if (!atEnd() && (text[at] == '+' || text[at] == '-')) at++
                if (digits() == 0) throw error("bad number")
            }
            val value = text.substring(start, at).toDoubleOrNull() ?: throw error("bad number")
            if (!value.isFinite()) throw error("number ${text.substring(start, at)} is out of range")
            return value
        }

        private fun string(): String {
            at++ // opening quote
            val out = StringBuilder()
            while (true) {
                if (atEnd()) throw error("unterminated string")
                val c = text[at++]
                when {
                    c == '"' -> return out.toString()
                    c < ' ' -> throw error("raw control character ${printable(c)} in a string")
                    c == '\\' -> {
                        if (atEnd()) throw error("unterminated escape")
                        when (val e = text[at++]) {
                            'n' -> out.append('\n')
                            't' -> out.append('\t')
                            'r' -> out.append('\r')
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000c')
                            '"', '\\', '/' -> out.append(e)
                            'u' -> {
                                val hex = if (at + 4 <= text.length) text.substring(at, at + 4) else ""
                                if (hex.length != 4 || !hex.all { it in '0'..'9' || it in 'a'..'f' || it in 'A'..'F' }) {
                                    throw error("bad \\u escape")
                                }
                                out.append(hex.toInt(16).toChar())
                                at += 4
                            }
                            else -> throw error("bad escape '\\${printable(e)}'")
                        }
                    }
                    else -> out.append(c)
                }
            }
        }

        private fun enter() {
            if (++depth > maxDepth) {
                throw IllegalArgumentException("${where()} nests deeper than $maxDepth levels")
            }
        }

        /** The path of the value being read, as manifest errors name fields (`calibration.a[0]`). */
        private fun where(): String {
            val out = StringBuilder()
            for (part in path) {
                if (out.length > 120) return "$out…"
                if (part is Int) out.append('[').append(part).append(']')
                else out.append(if (out.isEmpty()) "" else ".").append(part)
            }
            return if (out.isEmpty()) "JSON" else out.toString()
        }

        private fun array(): List<Any?> {
            enter()
            at++
            val items = ArrayList<Any?>()
            skipSpace()
            if (!atEnd() && text[at] == ']') { at++; depth--; return items }
            while (true) {
                path.add(items.size)
                items.add(value())
                path.removeAt(path.size - 1)
                skipSpace()
                if (atEnd()) throw error("unterminated array")
                when (text[at++]) {
                    ',' -> continue
                    ']' -> { depth--; return items }
                    else -> throw error("expected ',' or ']'")
                }
            }
        }

        private fun obj(): Map<String, Any?> {
            enter()
            at++
            val fields = LinkedHashMap<String, Any?>()
            skipSpace()
            if (!atEnd() && text[at] == '}') { at++; depth--; return fields }
            while (true) {
                skipSpace()
                if (atEnd() || text[at] != '"') throw error("expected a field name")
                val key = string()
                skipSpace()
                if (atEnd() || text[at++] != ':') throw error("expected ':'")
                path.add(key)
                fields[key] = value()
                path.removeAt(path.size - 1)
                skipSpace()
                if (atEnd()) throw error("unterminated object")
                when (text[at++]) {
                    ',' -> continue
                    '}' -> { depth--; return fields }
                    else -> throw error("expected ',' or '}'")
                }
            }
        }
    }
}
