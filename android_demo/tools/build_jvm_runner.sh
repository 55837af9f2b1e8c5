#!/usr/bin/env bash
# Builds the JVM runner of the Kotlin core (android_demo/jvm) into android_demo/jvm/build:
#   libmexit_litert_jni.so  the JNI bridge, linked against the ai-edge-litert wheel's libLiteRt.so
#   mexit-jvm.jar           the core + the runner + the Kotlin runtime
# Needs gcc, a JDK (headers), kotlinc (install_kotlin.sh) and `pip install -e ".[runtime]"`.
# LiteRT is found with $PYTHON (the interpreter whose packages hold ai-edge-litert, e.g.
# a venv's python not on PATH; tests pass sys.executable), else python3; or give
# LITERT_LIB_DIR. Rebuilds only what is older than its sources. Prints the two paths.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
jvm="$root/android_demo/jvm"
out="$jvm/build"
mkdir -p "$out"
python="${PYTHON:-python3}"
if [ -z "${LITERT_LIB_DIR:-}" ]; then
  litert_dir="$("$python" -c 'import ai_edge_litert, os; print(os.path.dirname(ai_edge_litert.__file__))' 2>/dev/null)" || {
    echo "build_jvm_runner: '$python' cannot import ai_edge_litert (pip install -e \".[runtime]\" with it, or set PYTHON)" >&2
    exit 2
  }
else
  litert_dir="$LITERT_LIB_DIR"
fi
if [ ! -f "$litert_dir/libLiteRt.so" ]; then
  echo "build_jvm_runner: no libLiteRt.so in '$litert_dir' (pip install -e \".[runtime]\")" >&2
  exit 2
fi
java_home="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"
library="$out/libmexit_litert_jni.so"
# Rebuilt when the source or the LiteRT it links against changed.
stamp="$out/litert_dir.txt"
if [ ! -f "$library" ] || [ "$jvm/src/main/c/litert_jni.c" -nt "$library" ] || \
   [ "$(cat "$stamp" 2>/dev/null)" != "$litert_dir" ]; then
  gcc -O2 -Wall -shared -fPIC -I"$java_home/include" -I"$java_home/include/linux" \
    "$jvm/src/main/c/litert_jni.c" -L"$litert_dir" -l:libLiteRt.so -Wl,-rpath,"$litert_dir" \
    -o "$library.tmp"
  mv "$library.tmp" "$library"
  echo "$litert_dir" > "$stamp"
fi
jar="$out/mexit-jvm.jar"
sources=("$root/android_demo/core/src/main/kotlin" "$jvm/src/main/kotlin")
if [ ! -f "$jar" ] || [ -n "$(find "${sources[@]}" -name '*.kt' -newer "$jar" | head -1)" ]; then
  kotlinc="${KOTLINC:-$root/.tools/node_modules/kotlin-compiler/bin/kotlinc}"
  [ -x "$kotlinc" ] || kotlinc="$(command -v kotlinc)" || {
    echo "build_jvm_runner: no kotlinc (bash android_demo/tools/install_kotlin.sh)" >&2; exit 2; }
  "$kotlinc" "${sources[@]}" -include-runtime -nowarn -d "$jar.tmp.jar" 2>&1 | grep -v '^warning' >&2 || true
  [ -f "$jar.tmp.jar" ] || { echo "build_jvm_runner: kotlinc failed" >&2; exit 1; }
  mv "$jar.tmp.jar" "$jar"
fi
echo "$library"
echo "$jar"
