plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

// The bundle ships in assets/bundle: copied at build time from an exported
// bundle folder (`-PmexitBundle=/path/to/bundle`, default ../../runs/quickstart/bundle).
val bundleDir = providers.gradleProperty("mexitBundle")
    .orElse(rootProject.layout.projectDirectory.dir("../runs/quickstart/bundle").asFile.path)
// A task of its own, not a doFirst of the Copy: a Copy whose source folder is
// missing has no inputs and is skipped as NO-SOURCE, so its actions never run.
// This one has no outputs, so it runs on every build.
val checkBundle by tasks.registering {
    val folder = bundleDir.map { File(it) }
    inputs.property("bundleDir", bundleDir)
    doLast {
        val manifest = folder.get().resolve("manifest.json")
        check(manifest.isFile) {
            "No bundle at ${folder.get()}: run `mexit quickstart` or pass -PmexitBundle=PATH"
        }
        @Suppress("UNCHECKED_CAST")
        val stages = (groovy.json.JsonSlurper().parse(manifest) as Map<String, Any?>)["stages"]
            as? List<Map<String, Any?>> ?: error("$manifest lists no stages")
        val missing = stages.map { it["file"].toString() }.filterNot { folder.get().resolve(it).isFile }
        check(missing.isEmpty()) { "Bundle ${folder.get()} lacks stage files $missing" }
    }
}
val copyBundle by tasks.registering(Copy::class) {
    dependsOn(checkBundle)
    from(bundleDir) { include("manifest.json", "*.tflite") }
    into(layout.buildDirectory.dir("generated/bundleAssets/bundle"))
}

android {
    namespace = "dev.mexit.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.mexit.demo"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }
    buildFeatures {
        compose = true
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
    sourceSets["main"].assets.srcDir(layout.buildDirectory.dir("generated/bundleAssets"))
    androidResources {
        noCompress += "tflite"
    }
}

tasks.named("preBuild") { dependsOn(copyBundle) }

dependencies {
    implementation(project(":core"))
    implementation(platform(libs.androidx.compose.bom))
    implementation(libs.androidx.compose.ui)
    implementation(libs.androidx.compose.material3)
    implementation(libs.androidx.compose.ui.tooling.preview)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(libs.androidx.camera.camera2)
    implementation(libs.androidx.camera.lifecycle)
    implementation(libs.androidx.camera.view)
    implementation(libs.litert)
}
