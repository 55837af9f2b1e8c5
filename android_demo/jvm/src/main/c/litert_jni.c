/*
 * JNI bridge from the JVM runner (dev.mexit.jvm.LiteRtNative) to LiteRT's C API,
 * as libLiteRt.so of the ai-edge-litert wheel exports it (2.3.x; see
 * android_demo/tools/build_jvm_runner.sh).
 *
 * Only the calls the runner needs, declared here by their signatures in the
 * litert/c headers (litert_environment.h, litert_model.h, litert_options.h,
 * litert_compiled_model.h, litert_tensor_buffer.h): LiteRT handles are opaque
 * pointers, so no LiteRT header is needed to build. One `Stage` owns a model, its
 * CompiledModel and the buffers created from the compiled model's requirements; an
 * input slot can be bound to another stage's output buffer, which is then passed to
 * LiteRtRunCompiledModel as it is: the hand-over between stages copies nothing.
 *
 * It trusts nothing from Kotlin. Handles are ids in a registry, never pointers, so a
 * closed or made-up handle is an exception, and a second close does nothing; an
 * object is freed only when nothing uses it any more (a running call, a stage built
 * in an environment, a stage reading another's output). Every index, size, array,
 * allocation and LiteRT status is checked; every error path frees what it took.
 * The model bytes come from Kotlin already verified (StageFileVerifier): LiteRT does
 * not verify a flatbuffer and crashes on a malformed one.
 */
#include <jni.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef void *Handle;
typedef int Status; /* LiteRtStatus: 0 is kLiteRtStatusOk */

Status LiteRtCreateEnvironment(int num_options, const void *options, Handle *environment);
void LiteRtDestroyEnvironment(Handle environment);
Status LiteRtCreateModelFromBuffer(Handle environment, const void *buffer_addr, size_t buffer_size,
                                   Handle *model);
void LiteRtDestroyModel(Handle model);
Status LiteRtGetNumModelSignatures(Handle model, size_t *count);
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
void LiteRtDestroyOpaqueOptions(Handle opaque);
Status LiteRtCreateCompiledModel(Handle environment, Handle model, Handle options,
                                 Handle *compiled);
void LiteRtDestroyCompiledModel(Handle compiled);
Status LiteRtGetCompiledModelInputBufferRequirements(Handle compiled, size_t signature,
                                                     size_t index, Handle *requirements);
Status LiteRtGetCompiledModelOutputBufferRequirements(Handle compiled, size_t signature,
                                                      size_t index, Handle *requirements);
Status LiteRtGetTensorBufferRequirementsBufferSize(Handle requirements, size_t *size);
Status LiteRtGetCompiledModelOutputTensorLayouts(Handle compiled, size_t signature, size_t count,
                                                 void *layouts, _Bool update_allocation);
Status LiteRtCreateManagedTensorBufferFromRequirements(Handle environment,
                                                       const void *ranked_tensor_type,
                                                       Handle requirements, Handle *buffer);
Status LiteRtGetTensorBufferPackedSize(Handle buffer, size_t *size);
Status LiteRtLockTensorBuffer(Handle buffer, void **host_memory, int lock_mode);
Status LiteRtUnlockTensorBuffer(Handle buffer);
void LiteRtDestroyTensorBuffer(Handle buffer);
Status LiteRtRunCompiledModel(Handle compiled, size_t signature, size_t num_inputs,
                              Handle *inputs, size_t num_outputs, Handle *outputs);

enum { HW_CPU = 1, LOCK_READ = 0, LOCK_WRITE = 1, ELEMENT_FLOAT32 = 1, MAX_RANK = 8 };
/* Bounds on what a stage may ask for: far above this project's stages, far below harm. */
enum { MAX_PORTS = 64, MAX_THREADS = 256 };
#define MAX_MODEL_BYTES ((jsize)1 << 30)

/* LiteRtLayout (litert_layout.h): rank, then dimensions and strides of at most rank 8. */
typedef struct {
  unsigned int rank : 7;
  unsigned int has_strides : 1;
  int32_t dimensions[MAX_RANK];
  uint32_t strides[MAX_RANK];
} Layout;
_Static_assert(sizeof(Layout) == 68, "LiteRtLayout is 68 bytes");

/* LiteRtRankedTensorType (litert_model_types.h): an element type and a layout, 72
 * bytes. Declared here to read the element type and dimensions; padded so a later,
 * longer layout cannot write past it. */
typedef union {
  struct {
    int element_type;
    Layout layout;
  } type;
  _Alignas(16) unsigned char bytes[512];
} TensorType;
_Static_assert(sizeof(((TensorType *)0)->type) == 72, "LiteRtRankedTensorType is 72 bytes");

/* ---- errors: one-line Java exceptions ---- */

static void throw_message(JNIEnv *env, const char *class_name, const char *message) {
  if ((*env)->ExceptionCheck(env)) return; /* the first error is the one to report */
  char line[512];
  snprintf(line, sizeof line, "%s", message);
  for (char *c = line; *c; c++)
    if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e) *c = '?'; /* one line, ASCII */
  jclass cls = (*env)->FindClass(env, class_name);
  if (cls) (*env)->ThrowNew(env, cls, line);
}

static int bad_argument(JNIEnv *env, const char *message) {
  throw_message(env, "java/lang/IllegalArgumentException", message);
  return 0;
}

static int bad_state(JNIEnv *env, const char *message) {
  throw_message(env, "java/lang/IllegalStateException", message);
  return 0;
}

static int out_of_memory(JNIEnv *env, const char *what) {
  char message[160];
  snprintf(message, sizeof message, "out of memory (%s)", what);
  throw_message(env, "java/lang/OutOfMemoryError", message);
  return 0;
}

/* While a call runs quietly (see Quiet), the scratch file LiteRT logs to. */
static __thread int quiet_fd = -1;

/* The last non-empty line LiteRT logged during the current quiet call, into [line]. Read
 * with pread: the file offset is shared with descriptor 2, where LiteRT goes on writing. */
static void last_log_line(char *line, size_t size) {
  char chunk[4096];
  size_t length = 0;
  line[0] = 0;
  if (quiet_fd < 0) return;
  fflush(stderr);
  off_t at = 0;
  ssize_t got;
  while ((got = pread(quiet_fd, chunk, sizeof chunk, at)) > 0) {
    for (ssize_t i = 0; i < got; i++) {
      char c = chunk[i];
      if (c == '\n' || c == '\r') {
        length = 0;
      } else {
        if (length == 0) line[0] = 0; /* a new non-empty line replaces the last */
        if (length + 1 < size) {
          line[length++] = c;
          line[length] = 0;
        }
      }
    }
    at += got;
  }
}

static int fail(JNIEnv *env, const char *call, Status status) {
  char message[400], log[200];
  last_log_line(log, sizeof log);
  snprintf(message, sizeof message, "LiteRT %s failed (status %d)%s%s", call, status,
           log[0] ? ": " : "", log);
  return bad_state(env, message);
}

#define CHECK(call, args)                                  \
  do {                                                     \
    Status status_ = call args;                            \
    if (status_ != 0) return fail(env, #call, status_);    \
  } while (0)

/* LiteRT logs every accelerator it registers, compiles for and destroys to file
 * descriptor 2. Like Python's quiet_native_stderr, those lines go to a scratch file
 * (shown with MEXIT_SHOW_TF_LOGS=1); a failed call's exception carries the last of
 * them, so an error stays one line. */
typedef struct { int saved; FILE *log; } Quiet;

static Quiet quiet_begin(void) {
  Quiet quiet = {-1, NULL};
  /* Already quiet (a stage freed while another is built): the outer call's file. */
  if (quiet_fd >= 0 || getenv("MEXIT_SHOW_TF_LOGS")) return quiet;
  fflush(stderr);
  quiet.log = tmpfile();
  if (quiet.log) quiet.saved = dup(2);
  if (quiet.saved >= 0 && dup2(fileno(quiet.log), 2) < 0) {
    close(quiet.saved);
    quiet.saved = -1;
  }
  if (quiet.saved >= 0) quiet_fd = fileno(quiet.log);
  return quiet;
}

static void quiet_end(Quiet quiet) {
  if (quiet.saved >= 0) {
    fflush(stderr);
    dup2(quiet.saved, 2);
    close(quiet.saved);
    quiet_fd = -1;
  }
  if (quiet.log) fclose(quiet.log);
}

/* ---- the registry: handles are ids, objects freed when nothing uses them ---- */

enum { KIND_ENVIRONMENT = 1, KIND_STAGE = 2 };

typedef struct Entry {
  jlong id;
  int kind;
  int users;   /* calls running on it, stages built in it, stages reading its outputs */
  int busy;    /* a call is running on it (stages take one call at a time) */
  int closing; /* closed: no new users; freed when the last one leaves */
  void *object;
  struct Entry *next;
} Entry;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static Entry *registry;
static jlong last_id;

static void free_object(Entry *entry);

static jlong register_object(int kind, void *object) {
  Entry *entry = calloc(1, sizeof *entry);
  if (!entry) return 0;
  entry->kind = kind;
  entry->object = object;
  pthread_mutex_lock(&registry_lock);
  entry->id = ++last_id;
  entry->next = registry;
  registry = entry;
  pthread_mutex_unlock(&registry_lock);
  return entry->id;
}

/* The live entry [id] of [kind], with one more user (and busy when [exclusive]); else
 * NULL with an exception thrown. */
static Entry *acquire(JNIEnv *env, jlong id, int kind, int exclusive) {
  const char *what = kind == KIND_STAGE ? "stage" : "environment";
  char message[160];
  pthread_mutex_lock(&registry_lock);
  Entry *entry = registry;
  while (entry && entry->id != id) entry = entry->next;
  if (!entry || entry->kind != kind || entry->closing) {
    /* Ids are never reused: a known id missing from the registry was closed. */
    if (entry && entry->kind != kind)
      snprintf(message, sizeof message, "handle %lld is not a %s", (long long)id, what);
    else
      snprintf(message, sizeof message, "%s handle %lld %s", what, (long long)id,
               entry || (id > 0 && id <= last_id) ? "is closed" : "was never opened");
    pthread_mutex_unlock(&registry_lock);
    bad_state(env, message);
    return NULL;
  }
  if (exclusive && entry->busy) {
    pthread_mutex_unlock(&registry_lock);
    snprintf(message, sizeof message, "%s %lld is in use by another thread (a runner has one owner)",
             what, (long long)id);
    bad_state(env, message);
    return NULL;
  }
  entry->users++;
  if (exclusive) entry->busy = 1;
  pthread_mutex_unlock(&registry_lock);
  return entry;
}

static void unlink_entry(Entry *entry) {
  for (Entry **at = &registry; *at; at = &(*at)->next)
    if (*at == entry) {
      *at = entry->next;
      return;
    }
}

static void release(Entry *entry, int exclusive) {
  if (!entry) return;
  pthread_mutex_lock(&registry_lock);
  entry->users--;
  if (exclusive) entry->busy = 0;
  int last = entry->closing && entry->users == 0;
  if (last) unlink_entry(entry);
  pthread_mutex_unlock(&registry_lock);
  if (last) free_object(entry);
}

/* Closes [id]: idempotent (an unknown or closed id is left alone). */
static void close_handle(jlong id, int kind) {
  pthread_mutex_lock(&registry_lock);
  Entry *entry = registry;
  while (entry && entry->id != id) entry = entry->next;
  int now = 0;
  if (entry && entry->kind == kind && !entry->closing) {
    entry->closing = 1;
    now = entry->users == 0;
    if (now) unlink_entry(entry);
  }
  pthread_mutex_unlock(&registry_lock);
  if (now) free_object(entry);
}

/* ---- stages ---- */

typedef struct {
  Entry *environment;    /* a user of its environment while it lives */
  void *model_bytes;     /* LiteRT reads the model from here for the model's lifetime */
  Handle model, compiled;
  size_t num_inputs, num_outputs;
  Handle *own_inputs, *inputs, *outputs; /* inputs[i]: own_inputs[i] or a bound buffer */
  Entry **producers;     /* producers[i]: the stage whose output inputs[i] is, or NULL */
  size_t *input_bytes, *output_bytes;
  char **input_names, **output_names;
} Stage;

static void destroy_stage(Stage *stage) {
  for (size_t i = 0; stage->own_inputs && i < stage->num_inputs; i++)
    if (stage->own_inputs[i]) LiteRtDestroyTensorBuffer(stage->own_inputs[i]);
  for (size_t i = 0; stage->outputs && i < stage->num_outputs; i++)
    if (stage->outputs[i]) LiteRtDestroyTensorBuffer(stage->outputs[i]);
  for (size_t i = 0; stage->input_names && i < stage->num_inputs; i++) free(stage->input_names[i]);
  for (size_t i = 0; stage->output_names && i < stage->num_outputs; i++) free(stage->output_names[i]);
  if (stage->compiled) LiteRtDestroyCompiledModel(stage->compiled);
  if (stage->model) LiteRtDestroyModel(stage->model);
  free(stage->model_bytes);
  for (size_t i = 0; stage->producers && i < stage->num_inputs; i++) release(stage->producers[i], 0);
  free(stage->own_inputs); free(stage->inputs); free(stage->outputs); free(stage->producers);
  free(stage->input_bytes); free(stage->output_bytes);
  free(stage->input_names); free(stage->output_names);
  release(stage->environment, 0);
  free(stage);
}

static void free_object(Entry *entry) {
  Quiet quiet = quiet_begin();
  if (entry->kind == KIND_STAGE) destroy_stage(entry->object);
  else LiteRtDestroyEnvironment(entry->object);
  quiet_end(quiet);
  free(entry);
}

/* Creates the buffer of input or output [index]: float32, a fixed shape, its byte size
 * the shape's. The buffer is stored in the stage at once, so destroy_stage frees it
 * whatever fails after. */
static int make_buffer(JNIEnv *env, Stage *stage, Handle signature, int is_input, size_t index) {
  Handle environment = stage->environment->object;
  Handle tensor, requirements, buffer = NULL;
  TensorType type;
  size_t bytes;
  const char *name = NULL;
  const char *kind = is_input ? "input" : "output";
  char message[400];
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
  if (!name) name = "";
  char *copy = strdup(name);
  if (!copy) return out_of_memory(env, "tensor name");
  (is_input ? stage->input_names : stage->output_names)[index] = copy;
  CHECK(LiteRtGetRankedTensorType, (tensor, &type));
  if (type.type.element_type != ELEMENT_FLOAT32) {
    snprintf(message, sizeof message, "%s '%.100s' has element type %d, not float32 (the runner "
             "reads and writes float32 only)", kind, name, type.type.element_type);
    return bad_argument(env, message);
  }
  size_t elements = 1;
  if (type.type.layout.rank > MAX_RANK) return bad_argument(env, "tensor rank over 8");
  for (unsigned int d = 0; d < type.type.layout.rank; d++) {
    int32_t dimension = type.type.layout.dimensions[d];
    if (dimension <= 0 || elements > (size_t)INT32_MAX / (size_t)dimension) {
      snprintf(message, sizeof message, "%s '%.100s' has dimension %d = %d (a fixed shape of "
               "under 2^31 floats is needed)", kind, name, d, dimension);
      return bad_argument(env, message);
    }
    elements *= (size_t)dimension;
  }
  /* The compiled model's own idea of the size: a graph whose operators compute another
   * shape than the file declares would write past a buffer of the declared size. */
  size_t required = 0;
  CHECK(LiteRtGetTensorBufferRequirementsBufferSize, (requirements, &required));
  if (required < elements * sizeof(float)) {
    snprintf(message, sizeof message, "%s '%.100s' is declared as %zu floats; the compiled model "
             "makes it %zu bytes", kind, name, elements, required);
    return bad_argument(env, message);
  }
  CHECK(LiteRtCreateManagedTensorBufferFromRequirements, (environment, &type, requirements, &buffer));
  if (is_input) stage->own_inputs[index] = stage->inputs[index] = buffer;
  else stage->outputs[index] = buffer;
  CHECK(LiteRtGetTensorBufferPackedSize, (buffer, &bytes));
  if (bytes != elements * sizeof(float)) {
    snprintf(message, sizeof message, "%s '%.100s' buffer holds %zu bytes; its shape needs %zu",
             kind, name, bytes, elements * sizeof(float));
    return bad_state(env, message);
  }
  (is_input ? stage->input_bytes : stage->output_bytes)[index] = bytes;
  return 1;
}

static int compile_stage(JNIEnv *env, Stage *stage, size_t size, int threads) {
  Handle environment = stage->environment->object;
  Handle options = NULL, opaque, signature;
  size_t signatures = 0;
  CHECK(LiteRtCreateModelFromBuffer, (environment, stage->model_bytes, size, &stage->model));
  CHECK(LiteRtGetNumModelSignatures, (stage->model, &signatures));
  if (signatures < 1) return bad_argument(env, "the model has no signature");
  CHECK(LiteRtCreateOptions, (&options));
  Status status = LiteRtSetOptionsHardwareAccelerators(options, HW_CPU);
  const char *call = "LiteRtSetOptionsHardwareAccelerators";
  if (status == 0 && threads > 0) {
    /* The CPU accelerator ("xnnpack") reads its options as TOML text; the payload is
     * LiteRT's once LiteRtCreateOpaqueOptions succeeds. */
    char *toml = malloc(48);
    if (!toml) {
      LiteRtDestroyOptions(options);
      return out_of_memory(env, "options");
    }
    snprintf(toml, 48, "num_threads = %d\n", threads);
    call = "LiteRtCreateOpaqueOptions";
    status = LiteRtCreateOpaqueOptions("xnnpack", toml, free, &opaque);
    if (status != 0) free(toml);
    else {
      call = "LiteRtAddOpaqueOptions";
      status = LiteRtAddOpaqueOptions(options, opaque);
      if (status != 0) LiteRtDestroyOpaqueOptions(opaque); /* not in the options' list */
    }
  }
  if (status == 0) {
    call = "LiteRtCreateCompiledModel";
    status = LiteRtCreateCompiledModel(environment, stage->model, options, &stage->compiled);
  }
  LiteRtDestroyOptions(options);
  if (status != 0) return fail(env, call, status);
  CHECK(LiteRtGetModelSignature, (stage->model, 0, &signature));
  size_t inputs = 0, outputs = 0;
  CHECK(LiteRtGetNumSignatureInputs, (signature, &inputs));
  CHECK(LiteRtGetNumSignatureOutputs, (signature, &outputs));
  if (inputs < 1 || outputs < 1 || inputs > MAX_PORTS || outputs > MAX_PORTS) {
    char message[160];
    snprintf(message, sizeof message, "the model has %zu inputs and %zu outputs (1 to %d each "
             "are taken)", inputs, outputs, MAX_PORTS);
    return bad_argument(env, message);
  }
  stage->own_inputs = calloc(inputs, sizeof(Handle));
  stage->inputs = calloc(inputs, sizeof(Handle));
  stage->producers = calloc(inputs, sizeof(Entry *));
  stage->input_bytes = calloc(inputs, sizeof(size_t));
  stage->input_names = calloc(inputs, sizeof(char *));
  stage->outputs = calloc(outputs, sizeof(Handle));
  stage->output_bytes = calloc(outputs, sizeof(size_t));
  stage->output_names = calloc(outputs, sizeof(char *));
  /* Counts set only with every array in place: destroy_stage walks them by these. */
  if (!stage->own_inputs || !stage->inputs || !stage->producers || !stage->input_bytes ||
      !stage->input_names || !stage->outputs || !stage->output_bytes || !stage->output_names)
    return out_of_memory(env, "stage tables");
  stage->num_inputs = inputs;
  stage->num_outputs = outputs;
  for (size_t i = 0; i < inputs; i++)
    if (!make_buffer(env, stage, signature, 1, i)) return 0;
  for (size_t i = 0; i < outputs; i++)
    if (!make_buffer(env, stage, signature, 0, i)) return 0;
  /* The output shapes the compiled graph computes (its operators' own shape rules)
   * must be the ones the file declares: LiteRT copies what it computed. */
  Layout *layouts = calloc(outputs, sizeof(Layout) + 64);
  if (!layouts) return out_of_memory(env, "layouts");
  Status got = LiteRtGetCompiledModelOutputTensorLayouts(stage->compiled, 0, outputs, layouts, 0);
  size_t differs = outputs;
  for (size_t i = 0; got == 0 && i < outputs; i++) {
    size_t elements = layouts[i].rank <= MAX_RANK ? 1 : 0;
    for (unsigned int d = 0; elements && d < layouts[i].rank; d++)
      elements = layouts[i].dimensions[d] > 0 ? elements * (size_t)layouts[i].dimensions[d] : 0;
    if (elements * sizeof(float) != stage->output_bytes[i] && differs == outputs) differs = i;
  }
  free(layouts);
  if (got != 0) return fail(env, "LiteRtGetCompiledModelOutputTensorLayouts", got);
  if (differs < outputs) {
    char message[300];
    snprintf(message, sizeof message, "output '%.100s' is declared as %zu floats; the model's "
             "operators compute another shape", stage->output_names[differs],
             stage->output_bytes[differs] / sizeof(float));
    return bad_argument(env, message);
  }
  /* A trial run on zeros, while LiteRT's log is still captured: a model that compiles
   * but cannot run (a kernel refusing its tensors) fails here, in one line, not on the
   * first image with LiteRT's lines on stderr. */
  for (size_t i = 0; i < inputs; i++) {
    void *memory = NULL;
    CHECK(LiteRtLockTensorBuffer, (stage->own_inputs[i], &memory, LOCK_WRITE));
    if (memory) memset(memory, 0, stage->input_bytes[i]);
    CHECK(LiteRtUnlockTensorBuffer, (stage->own_inputs[i]));
    if (!memory) return bad_state(env, "LiteRtLockTensorBuffer gave no host memory");
  }
  Status run = LiteRtRunCompiledModel(stage->compiled, 0, inputs, stage->inputs, outputs, stage->outputs);
  if (run != 0) return fail(env, "LiteRtRunCompiledModel (a trial run at load)", run);
  return 1;
}

/* ---- the JNI entry points ---- */

JNIEXPORT jlong JNICALL Java_dev_mexit_jvm_LiteRtNative_createEnvironment(JNIEnv *env, jclass cls) {
  Handle environment = NULL;
  Quiet quiet = quiet_begin();
  Status status = LiteRtCreateEnvironment(0, NULL, &environment);
  if (status != 0) fail(env, "LiteRtCreateEnvironment", status);
  quiet_end(quiet);
  if (status != 0) return 0;
  jlong id = register_object(KIND_ENVIRONMENT, environment);
  if (!id) {
    LiteRtDestroyEnvironment(environment);
    return out_of_memory(env, "environment");
  }
  return id;
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_destroyEnvironment(JNIEnv *env, jclass cls,
                                                                       jlong environment) {
  close_handle(environment, KIND_ENVIRONMENT); /* freed once its last stage is */
}

JNIEXPORT jlong JNICALL Java_dev_mexit_jvm_LiteRtNative_createStage(JNIEnv *env, jclass cls,
                                                                 jlong environment, jbyteArray model,
                                                                 jint threads) {
  if (!model) return bad_argument(env, "no model bytes");
  jsize size = (*env)->GetArrayLength(env, model);
  if (size < 8 || size > MAX_MODEL_BYTES) return bad_argument(env, "model size out of range");
  if (threads < 0 || threads > MAX_THREADS) return bad_argument(env, "threads out of range (0 to 256)");
  Stage *stage = calloc(1, sizeof(Stage));
  if (!stage) return out_of_memory(env, "stage");
  stage->environment = acquire(env, environment, KIND_ENVIRONMENT, 0);
  if (!stage->environment) {
    free(stage);
    return 0;
  }
  /* LiteRT keeps reading the bytes: a copy of its own, aligned as a mapped file is. */
  if (posix_memalign(&stage->model_bytes, 64, (size_t)size) != 0) {
    stage->model_bytes = NULL;
    destroy_stage(stage);
    return out_of_memory(env, "model bytes");
  }
  (*env)->GetByteArrayRegion(env, model, 0, size, stage->model_bytes);
  Quiet quiet = quiet_begin();
  int ok = compile_stage(env, stage, (size_t)size, threads);
  if (!ok) destroy_stage(stage);
  quiet_end(quiet);
  if (!ok) return 0;
  jlong id = register_object(KIND_STAGE, stage);
  if (!id) {
    Quiet again = quiet_begin();
    destroy_stage(stage);
    quiet_end(again);
    return out_of_memory(env, "stage handle");
  }
  return id;
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_destroyStage(JNIEnv *env, jclass cls,
                                                                 jlong handle) {
  close_handle(handle, KIND_STAGE);
}

static jobjectArray names(JNIEnv *env, jlong handle, int inputs) {
  Entry *entry = acquire(env, handle, KIND_STAGE, 1);
  if (!entry) return NULL;
  Stage *stage = entry->object;
  char **values = inputs ? stage->input_names : stage->output_names;
  size_t count = inputs ? stage->num_inputs : stage->num_outputs;
  /* As bytes: a model's names need not be the modified UTF-8 NewStringUTF wants. */
  jclass bytes_class = (*env)->FindClass(env, "[B");
  jobjectArray array = bytes_class ? (*env)->NewObjectArray(env, (jsize)count, bytes_class, NULL) : NULL;
  for (size_t i = 0; array && i < count; i++) {
    jsize length = (jsize)strlen(values[i]);
    jbyteArray name = (*env)->NewByteArray(env, length);
    if (!name) {
      array = NULL;
      break;
    }
    (*env)->SetByteArrayRegion(env, name, 0, length, (const jbyte *)values[i]);
    (*env)->SetObjectArrayElement(env, array, (jsize)i, name);
    (*env)->DeleteLocalRef(env, name);
  }
  release(entry, 1);
  return array;
}

JNIEXPORT jobjectArray JNICALL Java_dev_mexit_jvm_LiteRtNative_inputNames(JNIEnv *env, jclass cls,
                                                                       jlong handle) {
  return names(env, handle, 1);
}

JNIEXPORT jobjectArray JNICALL Java_dev_mexit_jvm_LiteRtNative_outputNames(JNIEnv *env, jclass cls,
                                                                        jlong handle) {
  return names(env, handle, 0);
}

/* Checks [index] against [count]; else throws naming it. */
static int in_range(JNIEnv *env, jint index, size_t count, const char *what) {
  if (index >= 0 && (size_t)index < count) return 1;
  char message[160];
  snprintf(message, sizeof message, "%s index %d is out of range (the stage has %zu)", what,
           (int)index, count);
  return bad_argument(env, message);
}

static jint size_of(JNIEnv *env, jlong handle, jint index, int input) {
  Entry *entry = acquire(env, handle, KIND_STAGE, 1);
  if (!entry) return 0;
  Stage *stage = entry->object;
  jint floats = 0;
  if (in_range(env, index, input ? stage->num_inputs : stage->num_outputs, input ? "input" : "output"))
    floats = (jint)((input ? stage->input_bytes : stage->output_bytes)[index] / sizeof(float));
  release(entry, 1);
  return floats;
}

JNIEXPORT jint JNICALL Java_dev_mexit_jvm_LiteRtNative_inputSize(JNIEnv *env, jclass cls,
                                                              jlong handle, jint index) {
  return size_of(env, handle, index, 1);
}

JNIEXPORT jint JNICALL Java_dev_mexit_jvm_LiteRtNative_outputSize(JNIEnv *env, jclass cls,
                                                               jlong handle, jint index) {
  return size_of(env, handle, index, 0);
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_bindInput(JNIEnv *env, jclass cls,
                                                              jlong handle, jint index,
                                                              jlong producer, jint output) {
  if (producer == handle) {
    bad_argument(env, "a stage cannot take its own output as its input");
    return;
  }
  Entry *entry = acquire(env, handle, KIND_STAGE, 1);
  if (!entry) return;
  /* Not exclusive: the producer may be read by others; this reference keeps its output
   * buffer alive for as long as this stage reads it. */
  Entry *source_entry = acquire(env, producer, KIND_STAGE, 0);
  Stage *stage = entry->object;
  if (source_entry && in_range(env, index, stage->num_inputs, "input")) {
    Stage *source = source_entry->object;
    if (in_range(env, output, source->num_outputs, "producer output")) {
      if (source->output_bytes[output] != stage->input_bytes[index]) {
        char message[160];
        snprintf(message, sizeof message, "bindInput: output of %zu bytes cannot feed an input of "
                 "%zu bytes", source->output_bytes[output], stage->input_bytes[index]);
        bad_argument(env, message);
      } else {
        Entry *previous = stage->producers[index];
        stage->inputs[index] = source->outputs[output];
        stage->producers[index] = source_entry;
        source_entry = previous; /* the reference let go below: the previous producer's */
      }
    }
  }
  release(source_entry, 0);
  release(entry, 1);
}

/* Copies a Java float[] into a host buffer (write) or out of it (read), sizes checked. */
static void copy_floats(JNIEnv *env, Handle buffer, size_t bytes, jfloatArray array, int write) {
  void *memory = NULL;
  if (!array) {
    bad_argument(env, write ? "writeInput: no array" : "readOutput: no array");
    return;
  }
  jsize count = (*env)->GetArrayLength(env, array);
  if ((size_t)count * sizeof(float) != bytes) {
    char message[160];
    snprintf(message, sizeof message, "%s: array of %d floats for a tensor of %zu",
             write ? "writeInput" : "readOutput", (int)count, bytes / sizeof(float));
    bad_argument(env, message);
    return;
  }
  Status status = LiteRtLockTensorBuffer(buffer, &memory, write ? LOCK_WRITE : LOCK_READ);
  if (status != 0) {
    fail(env, "LiteRtLockTensorBuffer", status);
    return;
  }
  if (!memory) bad_state(env, "LiteRtLockTensorBuffer gave no host memory");
  else if (write) (*env)->GetFloatArrayRegion(env, array, 0, count, (jfloat *)memory);
  else (*env)->SetFloatArrayRegion(env, array, 0, count, (const jfloat *)memory);
  status = LiteRtUnlockTensorBuffer(buffer);
  if (status != 0) fail(env, "LiteRtUnlockTensorBuffer", status);
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_writeInput(JNIEnv *env, jclass cls,
                                                               jlong handle, jint index,
                                                               jfloatArray values) {
  Entry *entry = acquire(env, handle, KIND_STAGE, 1);
  if (!entry) return;
  Stage *stage = entry->object;
  if (in_range(env, index, stage->num_inputs, "input")) {
    if (stage->producers[index]) bad_argument(env, "writeInput: that input is bound to another stage's output");
    else copy_floats(env, stage->own_inputs[index], stage->input_bytes[index], values, 1);
  }
  release(entry, 1);
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_run(JNIEnv *env, jclass cls, jlong handle) {
  Entry *entry = acquire(env, handle, KIND_STAGE, 1);
  if (!entry) return;
  Stage *stage = entry->object;
  Status status = LiteRtRunCompiledModel(stage->compiled, 0, stage->num_inputs, stage->inputs,
                                         stage->num_outputs, stage->outputs);
  if (status != 0) fail(env, "LiteRtRunCompiledModel", status);
  release(entry, 1);
}

JNIEXPORT void JNICALL Java_dev_mexit_jvm_LiteRtNative_readOutput(JNIEnv *env, jclass cls,
                                                               jlong handle, jint index,
                                                               jfloatArray into) {
  Entry *entry = acquire(env, handle, KIND_STAGE, 1);
  if (!entry) return;
  Stage *stage = entry->object;
  if (in_range(env, index, stage->num_outputs, "output"))
    copy_floats(env, stage->outputs[index], stage->output_bytes[index], into, 0);
  release(entry, 1);
}
