package dev.mexit.demo

import android.content.Context
import dev.mexit.core.BundleException
import dev.mexit.core.BundleLoader
import dev.mexit.core.Manifest
import dev.mexit.core.ManifestContract
import java.io.ByteArrayOutputStream
import java.io.FileNotFoundException
import java.io.InputStream

/**
 * Reads the bundle shipped in `assets/bundle` and checks it with the core's
 * loader (the manifest contract, then the size and sha256 of every stage), streaming each
 * stage from the APK: nothing is copied. LiteRT then maps the stages from the
 * assets. Slow for a large bundle (every byte is hashed): call it off the
 * main thread; [onStageChecked] reports progress.
 */
object BundleAssets {
    const val FOLDER = "bundle"

    fun load(context: Context, onStageChecked: (index: Int, count: Int) -> Unit = { _, _ -> }): Manifest {
        val assets = context.assets
        val bytes = try {
            // At most one byte past the contract's bound: enough to refuse a larger one unread.
            assets.open("$FOLDER/${BundleLoader.MANIFEST}").use { readAtMost(it, ManifestContract.MAX_MANIFEST_BYTES + 1) }
        } catch (error: FileNotFoundException) {
            throw BundleException("the app was built without a bundle (no assets/$FOLDER/${BundleLoader.MANIFEST})")
        }
        if (bytes.size > ManifestContract.MAX_MANIFEST_BYTES) {
            throw BundleException("${BundleLoader.MANIFEST} is over ${ManifestContract.MAX_MANIFEST_BYTES} bytes; " +
                "a manifest is at most that")
        }
        val text = bytes.toString(Charsets.UTF_8)
        return BundleLoader.parse(text, onStageChecked = onStageChecked) { name ->
            try {
                assets.open("$FOLDER/$name")
            } catch (error: FileNotFoundException) {
                null
            }
        }
    }

    /** Up to [limit] bytes of [stream] (InputStream.readNBytes needs API 33; minSdk is 26). */
    private fun readAtMost(stream: InputStream, limit: Int): ByteArray {
        val out = ByteArrayOutputStream()
        val buffer = ByteArray(1 shl 16)
        while (out.size() < limit) {
            val read = stream.read(buffer, 0, minOf(buffer.size, limit - out.size()))
            if (read < 0) break
            out.write(buffer, 0, read)
        }
        return out.toByteArray()
    }
}
