/*
 * JNI bridge from the JVM runner (dev.mexit.jvm.LiteRtNative) to LiteRT's C API,
 * as libLiteRt.so of the ai-edge-litert wheel exports it (2.3.x; see
 * android_demo/tools/build_jvm_runner.sh).
 *
 * Only the calls the runner needs, declared here by their documented
 * signatures (the litert/c headers): LiteRT handles are opaque pointers, so no LiteRT
 * header is needed to build. One `Stage` owns a model, its CompiledModel and
 * the buffers created from the compiled model's requirements; an input slot
 * can be bound to another stage's output buffer, which is then passed to
 * LiteRtRunCompiledModel as it is: the hand-over between stages copies nothing.
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void *Handle;
typedef int Status; /* LiteRtStatus: 0 is kLiteRtStatusOk */

Status LiteRtCreateEnvironment(int num_options, const void *options, Handle *environment);
void LiteRtDestroyEnvironment(Handle environment);
Status LiteRtCreateModelFromFile(Handle environment, const char *filename, Handle *model);
void LiteRtDestroyModel(Handle model);
Status LiteRtGetModelSignature(Handle model, size_t index, Handle *signature);
Status LiteRtGetNumSignatureInputs(Handle signature, size_t *count);
Status LiteRtGetNumSignatureOutputs(Handle signature, size_t *count);
Status LiteRtGetSignatureInputName(Handle signature, size_t index, const char **name);
Status LiteRtGetSignatureOutputName(Handle signature, size_t index, const char **name);
Status LiteRtGetSignatureInputTensorByIndex(Handle signature, size_t index, Handle *tensor);
Status LiteRtGetSignatureOutputTensorByIndex(Handle signature, size_t index, Handle *tensor);
Status LiteRtGetRankedTensorType(Handle tensor, void *ranked_tensor_type);
Status LiteRtCreateOptions(Handle *options);
void LiteRtDestroyOptions(Handle options);
Status LiteRtSetOptionsHardwareAccelerators(Handle options, int accelerators);
Status LiteRtCreateOpaqueOptions(const char *identifier, void *payload,
                                 void (*destructor)(void *), Handle *opaque);
Status LiteRtAddOpaqueOptions(Handle options, Handle opaque);
Status LiteRtCreateCompiledModel(Handle environment, Handle model, Handle options,
                                 Handle *compiled);
void LiteRtDestroyCompiledModel(Handle compiled);
Status LiteRtGetCompiledModelInputBufferRequirements(Handle compiled, size_t signature,
                                                     size_t index, Handle *requirements);
Status LiteRtGetCompiledModelOutputBufferRequirements(Handle compiled, size_t signature,
                                                      size_t index, Handle *requirements);
Status LiteRtCreateManagedTensorBufferFromRequirements(Handle environment,
                                                       const void *ranked_tensor_type,
                                                       Handle requirements, Handle *buffer);
Status LiteRtGetTensorBufferPackedSize(Handle buffer, size_t *size);
Status LiteRtLockTensorBuffer(Handle buffer, void **host_memory, int lock_mode);
Status LiteRtUnlockTensorBuffer(Handle buffer);
void LiteRtDestroyTensorBuffer(Handle buffer);
Status LiteRtRunCompiledModel(Handle compiled, size_t signature, size_t num_inputs,
                              Handle *inputs, size_t num_outputs, Handle *outputs);

enum { HW_CPU = 1, LOCK_READ = 0, LOCK_WRITE = 1 };

/* LiteRtRankedTensorType is an element type and a layout of at most rank 8
 * (about 72 bytes); it is only copied from the model to the buffer factory, so
 * a generous opaque block keeps this file independent of its exact layout. */
typedef struct { _Alignas(16) unsigned char bytes[512]; } TensorType;

typedef struct {
  Handle model, compiled;
  size_t num_inputs, num_outputs;
  Handle *own_inputs, *inputs, *outputs; /* inputs[i]: own_inputs[i] or a bound buffer */
  size_t *input_bytes, *output_bytes;
  char **input_names, **output_names;
} Stage;

static int fail(JNIEnv *env, const char *call, Status status) {
  char message[256];
  snprintf(message, sizeof message, "LiteRT %s failed (status %d)", call, status);
  (*env)->ThrowNew(env, (*env)->FindClass(env, "java/lang/IllegalStateException"), message);
  return 0;
}

/* LiteRT logs every accelerator it registers, compiles for and destroys to file
 * descriptor 2. Like Python's quiet_native_stderr: those lines go to a scratch
 * file, shown only when the call failed (or always with MEXIT_SHOW_TF_LOGS=1). */
typedef struct { int saved; FILE *log; } Quiet;

static Quiet quiet_begin(void) {
  Quiet quiet = {-1, NULL};
  if (getenv("MEXIT_SHOW_TF_LOGS")) return quiet;
  fflush(stderr);
  quiet.log = tmpfile();
  if (quiet.log) quiet.saved = dup(2);
  if (quiet.saved >= 0) dup2(fileno(quiet.log), 2);
  return quiet;
}

static void quiet_end(Quiet quiet, int failed) {
  if (quiet.saved < 0) {
    if (quiet.log) fclose(quiet.log);
    return;
  }
  fflush(stderr);
  dup2(quiet.saved, 2);
  close(quiet.saved);
  if (failed) {
    char chunk[4096];
    size_t read;
    rewind(quiet.log);
    while ((read = fread(chunk, 1, sizeof chunk, quiet.log)) > 0) fwrite(chunk, 1, read, stderr);
    fflush(stderr);
  }
  fclose(quiet.log);
}

#define CHECK(call, args)                          \
  do {                                             \
    Status status_ = call args;                    \
    if (status_ != 0) return fail(env, #call, status_); \
  } while (0)

static void destroy_stage(Stage *stage) {
  for (size_t i = 0; i < stage->num_inputs; i++)
    if (stage->own_inputs && stage->own_inputs[i]) LiteRtDestroyTensorBuffer(stage->own_inputs[i]);
  for (size_t i = 0; i < stage->num_outputs; i++)
    if (stage->outputs && stage->outputs[i]) LiteRtDestroyTensorBuffer(stage->outputs[i]);
  for (size_t i = 0; stage->input_names && i < stage->num_inputs; i++) free(stage->input_names[i]);
  for (size_t i = 0; stage->output_names && i < stage->num_outputs; i++) free(stage->output_names[i]);
  free(stage->own_inputs); free(stage->inputs); free(stage->outputs);
  free(stage->input_bytes); free(stage->output_bytes);
  free(stage->input_names); free(stage->output_names);
  if (stage->compiled) LiteRtDestroyCompiledModel(stage->compiled);
  if (stage->model) LiteRtDestroyModel(stage->model);
  free(stage);
}

static int make_buffer(JNIEnv *env, Handle environment, Stage *stage, Handle signature,
                       int is_input, size_t index) {
  Handle tensor, requirements, buffer;
  TensorType type;
  size_t bytes;
  const char *name;
  memset(&type, 0, sizeof type);
  if (is_input) {
    CHECK(LiteRtGetSignatureInputName, (signature, index, &name));
    CHECK(LiteRtGetSignatureInputTensorByIndex, (signature, index, &tensor));
    CHECK(LiteRtGetCompiledModelInputBufferRequirements, (stage->compiled, 0, index, &requirements));
  } else {
    CHECK(LiteRtGetSignatureOutputName, (signature, index, &name));
    CHECK(LiteRtGetSignatureOutputTensorByIndex, (signature, index, &tensor));
    CHECK(LiteRtGetCompiledModelOutputBufferRequirements, (stage->compiled, 0, index, &requirements));
  }
  CHECK(LiteRtGetRankedTensorType, (tensor, &type));
  CHECK(LiteRtCreateManagedTensorBufferFromRequirements, (environment, &type, requirements, &buffer));
  CHECK(LiteRtGetTensorBufferPackedSize, (buffer, &bytes));
  if (is_input) {
    stage->own_inputs[index] = stage->inputs[index] = buffer;
    stage->input_bytes[index] = bytes;
    stage->input_names[index] = strdup(name);
  } else {
    stage->outputs[index] = buffer;
    stage->output_bytes[index] = bytes;
    stage->output_names[index] = strdup(name);
  }
  return 1;
}

static int compile_stage(JNIEnv *env, Handle environment, const char *path, int threads,
                         Stage *stage) {
  Handle options, opaque, signature;
  CHECK(LiteRtCreateModelFromFile, (environment, path, &stage->model));
  CHECK(LiteRtCreateOptions, (&options));
  Status status = LiteRtSetOptionsHardwareAccelerators(options, HW_CPU);
  if (status == 0 && threads > 0) {
    /* The CPU accelerator ("xnnpack") reads its options as TOML text. */
    char *toml = malloc(48);
    snprintf(toml, 48, "num_threads = %d\n", threads);
    status = LiteRtCreateOpaqueOptions("xnnpack", toml, free, &opaque);
    if (status == 0) status = LiteRtAddOpaqueOptions(options, opaque);
    else free(toml);
  }
  if (status == 0) status = LiteRtCreateCompiledModel(environment, stage->model, options, &stage->compiled);
  LiteRtDestroyOptions(options);
  if (status != 0) return fail(env, "LiteRtCreateCompiledModel", status);
  CHECK(LiteRtGetModelSignature, (stage->model, 0, &signature));
  CHECK(LiteRtGetNumSignatureInputs, (signature, &stage->num_inputs));
  CHECK(LiteRtGetNumSignatureOutputs, (signature, &stage->num_outputs));
  stage->own_inputs = calloc(stage->num_inputs, sizeof(Handle));
  stage->inputs = calloc(stage->num_inputs, sizeof(Handle));
  stage->input_bytes = calloc(stage->num_inputs, sizeof(size_t));
  stage->input_names = calloc(stage->num_inputs, sizeof(char *));
  stage->outputs = calloc(stage->num_outputs, sizeof(Handle));
  stage->output_bytes = calloc(stage->num_outputs, sizeof(size_t));
  stage->output_names = calloc(stage->num_outputs, sizeof(char *));
  for (size_t i = 0; i < stage->num_inputs; i++)
    if (!make_buffer(env, environment, stage, signature, 1, i)) return 0;
  for (size_t i = 0; i < stage->num_outputs; i++)
    if (!make_buffer(env, environment, stage, signature, 0, i)) return 0;
  return 1;
}

JNIEXPORT jlong JNICALL Java_dev_mexit_jvm_LiteRtNative_createEnvironment(JNIEnv *env, jclass cls) {
  Handle environment = NULL;
  Quiet quiet = quiet_begin();
  Status status = LiteRtCreateEnvironment(0, NULL, &environment);
  quiet_end(quiet, status != 0);
  if (status != 0) return fail(env, "LiteRtCreateEnvironment", status);
  return (jlong)(intptr_t)environment;
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_destroyEnvironment(JNIEnv *env, jclass cls,
                                                                       jlong environment) {
  Quiet quiet = quiet_begin();
  LiteRtDestroyEnvironment((Handle)(intptr_t)environment);
  quiet_end(quiet, 0);
}

JNIEXPORT jlong JNICALL Java_dev_mexit_jvm_LiteRtNative_createStage(JNIEnv *env, jclass cls,
                                                                 jlong environment, jstring path,
                                                                 jint threads) {
  Stage *stage = calloc(1, sizeof(Stage));
  const char *file = (*env)->GetStringUTFChars(env, path, NULL);
  Quiet quiet = quiet_begin();
  int ok = compile_stage(env, (Handle)(intptr_t)environment, file, threads, stage);
  if (!ok) destroy_stage(stage);
  quiet_end(quiet, !ok);
  (*env)->ReleaseStringUTFChars(env, path, file);
  if (!ok) return 0;
  return (jlong)(intptr_t)stage;
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_destroyStage(JNIEnv *env, jclass cls,
                                                                 jlong handle) {
  Quiet quiet = quiet_begin();
  destroy_stage((Stage *)(intptr_t)handle);
  quiet_end(quiet, 0);
}

static jobjectArray names(JNIEnv *env, char **values, size_t count) {
  jobjectArray array = (*env)->NewObjectArray(env, (jsize)count,
                                              (*env)->FindClass(env, "java/lang/String"), NULL);
  for (size_t i = 0; i < count; i++)
    (*env)->SetObjectArrayElement(env, array, (jsize)i, (*env)->NewStringUTF(env, values[i]));
  return array;
}

JNIEXPORT jobjectArray JNICALL Java_dev_mexit_jvm_LiteRtNative_inputNames(JNIEnv *env, jclass cls,
                                                                       jlong handle) {
  Stage *stage = (Stage *)(intptr_t)handle;
  return names(env, stage->input_names, stage->num_inputs);
}

JNIEXPORT jobjectArray JNICALL Java_dev_mexit_jvm_LiteRtNative_outputNames(JNIEnv *env, jclass cls,
                                                                        jlong handle) {
  Stage *stage = (Stage *)(intptr_t)handle;
  return names(env, stage->output_names, stage->num_outputs);
}

JNIEXPORT jint JNICALL Java_dev_mexit_jvm_LiteRtNative_inputSize(JNIEnv *env, jclass cls,
                                                              jlong handle, jint index) {
  return (jint)(((Stage *)(intptr_t)handle)->input_bytes[index] / sizeof(float));
}

JNIEXPORT jint JNICALL Java_dev_mexit_jvm_LiteRtNative_outputSize(JNIEnv *env, jclass cls,
                                                               jlong handle, jint index) {
  return (jint)(((Stage *)(intptr_t)handle)->output_bytes[index] / sizeof(float));
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_bindInput(JNIEnv *env, jclass cls,
                                                              jlong handle, jint index,
                                                              jlong producer, jint output) {
  Stage *stage = (Stage *)(intptr_t)handle;
  Stage *source = (Stage *)(intptr_t)producer;
  if (source->output_bytes[output] != stage->input_bytes[index]) {
    fail(env, "bindInput (sizes differ)", -1);
    return;
  }
  stage->inputs[index] = source->outputs[output];
}

/* Copies a Java float[] into a host buffer (write) or out of it (read), sizes checked. */
static void copy_floats(JNIEnv *env, Handle buffer, size_t bytes, jfloatArray array, int write) {
  void *memory;
  jsize count = (*env)->GetArrayLength(env, array);
  if ((size_t)count * sizeof(float) != bytes) {
    fail(env, write ? "writeInput (size differs)" : "readOutput (size differs)", -1);
    return;
  }
  Status status = LiteRtLockTensorBuffer(buffer, &memory, write ? LOCK_WRITE : LOCK_READ);
  if (status != 0) {
    fail(env, "LiteRtLockTensorBuffer", status);
    return;
  }
  if (write) (*env)->GetFloatArrayRegion(env, array, 0, count, (jfloat *)memory);
  else (*env)->SetFloatArrayRegion(env, array, 0, count, (const jfloat *)memory);
  LiteRtUnlockTensorBuffer(buffer);
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_writeInput(JNIEnv *env, jclass cls,
                                                               jlong handle, jint index,
                                                               jfloatArray values) {
  Stage *stage = (Stage *)(intptr_t)handle;
  copy_floats(env, stage->own_inputs[index], stage->input_bytes[index], values, 1);
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_run(JNIEnv *env, jclass cls, jlong handle) {
  Stage *stage = (Stage *)(intptr_t)handle;
  Status status = LiteRtRunCompiledModel(stage->compiled, 0, stage->num_inputs, stage->inputs,
                                         stage->num_outputs, stage->outputs);
  if (status != 0) fail(env, "LiteRtRunCompiledModel", status);
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_readOutput(JNIEnv *env, jclass cls,
                                                               jlong handle, jint index,
                                                               jfloatArray into) {
  Stage *stage = (Stage *)(intptr_t)handle;
  copy_floats(env, stage->outputs[index], stage->output_bytes[index], into, 0);
}
