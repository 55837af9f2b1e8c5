package dev.mexit.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/** Stage inputs are wired by role to the stage that last produced them; bad wiring is refused. */
class StageWiringTest {
    private fun tensor(name: String, role: String = TensorSpec.inputRole(name)) = TensorSpec(name, role, listOf(1, 4))

    private fun stage(index: Int, inputs: List<TensorSpec>, outputs: List<TensorSpec>) =
        StageSpec(index, "stage_$index.tflite", "-", "exit_$index", listOf(1, 4), 0.1, 1.0, inputs, outputs)

    private fun manifest(vararg stages: StageSpec) = Manifest(1, listOf(1, 4), 0.0 to 255.0, labels = listOf(),
        quantization = "float32", stages = stages.toList(), policy = PatiencePolicy(1, stages.size),
        operatingPoints = listOf(), expectedAccuracy = null)

    @Test
    fun handedOnTokensComeFromTheLastStageThatProducedThem() {
        val wiring = StageWiring(manifest(
            stage(0, listOf(tensor("waveform")), listOf(tensor("Identity", "logits"),
                tensor("Identity_1", "hidden"), tensor("Identity_2", "audio_token"))),
            stage(1, listOf(tensor("hidden_in")), listOf(tensor("Identity", "logits"), tensor("Identity_1", "hidden"))),
            stage(2, listOf(tensor("hidden_in"), tensor("audio_token_in")), listOf(tensor("Identity", "logits"))),
        ))
        assertEquals("waveform", wiring.rawInput.name)
        assertTrue(wiring.sources[0].isEmpty())
        assertEquals(StageWiring.Source(0, tensor("Identity_1", "hidden")), wiring.sources[1]["hidden_in"])
        assertEquals(1, wiring.sources[2].getValue("hidden_in").stage)
        assertEquals(StageWiring.Source(0, tensor("Identity_2", "audio_token")), wiring.sources[2]["audio_token_in"])
    }

    @Test
    fun anInputNoEarlierStageProducesIsRefused() {
        val error = assertThrows(BundleException::class.java) {
            StageWiring(manifest(
                stage(0, listOf(tensor("image")), listOf(tensor("Identity", "logits"), tensor("Identity_1", "hidden"))),
                stage(1, listOf(tensor("audio_token_in")), listOf(tensor("Identity", "logits"))),
            ))
        }
        assertTrue(error.message!!, error.message!!.contains("'audio_token_in', which no earlier stage produces"))
    }

    @Test
    fun aFirstStageWithTwoRawInputsIsRefused() {
        val error = assertThrows(BundleException::class.java) {
            StageWiring(manifest(stage(0, listOf(tensor("image"), tensor("waveform")), listOf(tensor("Identity", "logits")))))
        }
        assertTrue(error.message!!, error.message!!.contains("one input"))
    }
}
