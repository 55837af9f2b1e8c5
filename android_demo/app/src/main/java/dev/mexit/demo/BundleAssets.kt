package dev.mexit.demo

import android.content.Context
import dev.mexit.core.BundleLoader
import dev.mexit.core.Manifest
import java.io.File

/**
 * Reads the bundle shipped in `assets/bundle` and checks it with the core's
 * loader (format version, sha256 of every stage, policy). The stage files are
 * copied once to app storage for the checksum; LiteRT reads them from assets.
 */
object BundleAssets {
    fun load(context: Context): Manifest {
        val target = File(context.filesDir, "bundle").apply { mkdirs() }
        val names = context.assets.list("bundle").orEmpty()
        for (name in names) {
            context.assets.open("bundle/$name").use { input ->
                File(target, name).outputStream().use { input.copyTo(it) }
            }
        }
        return BundleLoader.load(target)
    }
}
