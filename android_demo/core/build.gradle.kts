// The cascade core: pure Kotlin (no android.*, androidx.* or LiteRT), tested on the JVM.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    systemProperty("mexit.golden", "src/test/resources/golden_fixture.json")
}
