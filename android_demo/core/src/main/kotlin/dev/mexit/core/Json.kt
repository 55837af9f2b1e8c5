package dev.mexit.core

/**
 * A small JSON reader for manifests and fixtures, so the core needs no library.
 * Objects become `Map<String, Any?>`, arrays `List<Any?>`, numbers `Double`.
 */
object Json {
    fun parse(text: String): Any? {
        val reader = Reader(text)
        val value = reader.value()
        reader.skipSpace()
        if (!reader.atEnd()) throw reader.error("unexpected trailing text")
        return value
    }

    private class Reader(private val text: String) {
        private var at = 0

        fun atEnd() = at >= text.length

        fun error(what: String) = IllegalArgumentException("JSON: $what at offset $at")

        fun skipSpace() {
            while (!atEnd() && text[at].isWhitespace()) at++
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
                'N' -> literal("NaN", Double.NaN)
                else -> if (c == '-' || c.isDigit()) number() else throw error("unexpected '$c'")
            }
        }

        private fun literal(word: String, result: Any?): Any? {
            if (!text.startsWith(word, at)) throw error("bad literal")
            at += word.length
            return result
        }

        private fun number(): Double {
            val start = at
            if (text.startsWith("-Infinity", at)) {
                at += 9
                return Double.NEGATIVE_INFINITY
            }
            while (!atEnd() && (text[at].isDigit() || text[at] in "+-.eE")) at++
            return text.substring(start, at).toDoubleOrNull() ?: throw error("bad number")
        }

        private fun string(): String {
            at++ // opening quote
            val out = StringBuilder()
            while (true) {
                if (atEnd()) throw error("unterminated string")
                val c = text[at++]
                when (c) {
                    '"' -> return out.toString()
                    '\\' -> {
                        if (atEnd()) throw error("unterminated escape")
                        when (val e = text[at++]) {
                            'n' -> out.append('\n')
                            't' -> out.append('\t')
                            'r' -> out.append('\r')
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000c')
                            'u' -> {
                                if (at + 4 > text.length) throw error("bad \\u escape")
                                out.append(text.substring(at, at + 4).toInt(16).toChar())
                                at += 4
                            }
                            else -> out.append(e)
                        }
                    }
                    else -> out.append(c)
                }
            }
        }

        private fun array(): List<Any?> {
            at++
            val items = ArrayList<Any?>()
            skipSpace()
            if (!atEnd() && text[at] == ']') { at++; return items }
            while (true) {
                items.add(value())
                skipSpace()
                if (atEnd()) throw error("unterminated array")
                when (text[at++]) {
                    ',' -> continue
                    ']' -> return items
                    else -> throw error("expected ',' or ']'")
                }
            }
        }

        private fun obj(): Map<String, Any?> {
            at++
            val fields = LinkedHashMap<String, Any?>()
            skipSpace()
            if (!atEnd() && text[at] == '}') { at++; return fields }
            while (true) {
                skipSpace()
                if (atEnd() || text[at] != '"') throw error("expected a field name")
                val key = string()
                skipSpace()
                if (atEnd() || text[at++] != ':') throw error("expected ':'")
                fields[key] = value()
                skipSpace()
                if (atEnd()) throw error("unterminated object")
                when (text[at++]) {
                    ',' -> continue
                    '}' -> return fields
                    else -> throw error("expected ',' or '}'")
                }
            }
        }
    }
}
