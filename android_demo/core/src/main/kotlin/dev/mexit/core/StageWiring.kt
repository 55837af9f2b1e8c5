package dev.mexit.core

/**
 * Where each stage's inputs come from, decided once from the manifest: stage 0
 * reads the raw input (image or waveform); every later input takes the output
 * of the same role (`hidden`, `audio_token`) of the last stage that produced
 * it. Runners bind those output buffers as inputs, so tokens never leave the
 * runtime between stages.
 */
class StageWiring(manifest: Manifest) {
    /** The producer of one input: stage [stage]'s output [output]. */
    data class Source(val stage: Int, val output: TensorSpec)

    /** The raw input of stage 0. */
    val rawInput: TensorSpec

    /** Per stage, per input name: its source (stage 0's raw input has none). */
    val sources: List<Map<String, Source>>

    init {
        val raw = manifest.stages.first().inputs
        rawInput = raw.singleOrNull() ?: throw BundleException(
            "stage 0 takes ${raw.map { it.name }}; a runner feeds it one input (image or waveform)")
        val producers = HashMap<String, Source>()
        sources = manifest.stages.map { stage ->
            val wired = HashMap<String, Source>()
            if (stage.index > 0) for (input in stage.inputs) {
                wired[input.name] = producers[input.role] ?: throw BundleException(
                    "stage ${stage.file} takes '${input.name}', which no earlier stage produces")
            }
            for (output in stage.outputs) {
                if (output.role != "logits") producers[output.role] = Source(stage.index, output)
            }
            wired
        }
    }
}
