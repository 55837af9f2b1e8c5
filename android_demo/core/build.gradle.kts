import org.jetbrains.kotlin.gradle.dsl.JvmTarget

// The cascade core: pure Kotlin (no android.*, androidx.* or LiteRT), tested on the JVM.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    systemProperty("mexit.golden", "src/test/resources/golden_fixture.json")
}
