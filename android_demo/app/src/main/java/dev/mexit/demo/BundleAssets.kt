package dev.mexit.demo

import android.content.Context
import dev.mexit.core.BundleException
import dev.mexit.core.BundleLoader
import dev.mexit.core.Manifest
import java.io.FileNotFoundException

/**
 * Reads the bundle shipped in `assets/bundle` and checks it with the core's
 * loader (format version, sha256 of every stage, policy), streaming each
 * stage from the APK: nothing is copied. LiteRT then maps the stages from the
 * assets. Slow for a large bundle (every byte is hashed): call it off the
 * main thread; [onStageChecked] reports progress.
 */
object BundleAssets {
    const val FOLDER = "bundle"

    fun load(context: Context, onStageChecked: (index: Int, count: Int) -> Unit = { _, _ -> }): Manifest {
        val assets = context.assets
        val text = try {
            assets.open("$FOLDER/${BundleLoader.MANIFEST}").bufferedReader().use { it.readText() }
        } catch (error: FileNotFoundException) {
            throw BundleException("the app was built without a bundle (no assets/$FOLDER/${BundleLoader.MANIFEST})")
        }
        return BundleLoader.parse(text, onStageChecked = onStageChecked) { name ->
            try {
                assets.open("$FOLDER/$name")
            } catch (error: FileNotFoundException) {
                null
            }
        }
    }
}
