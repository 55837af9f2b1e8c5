package dev.mexit.demo

import android.Manifest.permission.CAMERA
import android.content.pm.PackageManager
import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.compose.setContent
import androidx.activity.result.contract.ActivityResultContracts
import androidx.camera.core.ImageAnalysis
import androidx.camera.view.LifecycleCameraController
import androidx.camera.view.PreviewView
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.DropdownMenu
import androidx.compose.material3.DropdownMenuItem
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Surface
import androidx.compose.material3.Switch
import androidx.compose.material3.Tab
import androidx.compose.material3.TabRow
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.compose.LocalLifecycleOwner
import androidx.compose.ui.unit.dp
import androidx.compose.ui.viewinterop.AndroidView
import androidx.core.content.ContextCompat
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel

class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContent {
            MaterialTheme {
                Surface(Modifier.fillMaxSize()) { DemoScreen() }
            }
        }
    }
}

@Composable
fun DemoScreen(model: DemoViewModel = viewModel()) {
    val state by model.state.collectAsStateWithLifecycle()
    state.error?.let { message ->
        Text(message, Modifier.padding(24.dp), color = MaterialTheme.colorScheme.error)
        return
    }
    state.loading?.let { loading ->
        Column(Modifier.padding(24.dp)) {
            Text(loading.step)
            LinearProgressIndicator(progress = { loading.fraction }, modifier = Modifier.fillMaxWidth())
        }
        return
    }
    var tab by remember { mutableIntStateOf(0) }
    Column(Modifier.fillMaxSize()) {
        TabRow(selectedTabIndex = tab) {
            Tab(tab == 0, onClick = { tab = 0 }, text = { Text("Live") })
            Tab(tab == 1, onClick = { tab = 1 }, text = { Text("Statistics") })
        }
        PolicyControls(state, model)
        if (tab == 0) LiveScreen(state, model) else StatisticsScreen(state)
    }
}

/** Frame deadlines offered: none, or one frame at 60, 30, 15 and 10 frames per second. */
private val FRAME_DEADLINES = listOf(null, 16.7, 33.3, 66.7, 100.0)

@Composable
private fun PolicyControls(state: DemoState, model: DemoViewModel) {
    val manifest = state.manifest ?: return
    var open by remember { mutableStateOf(false) }
    var deadlineOpen by remember { mutableStateOf(false) }
    Row(Modifier.fillMaxWidth().padding(12.dp), horizontalArrangement = Arrangement.SpaceBetween) {
        Column {
            Text("Always run to the end")
            Switch(checked = state.runToEnd, onCheckedChange = model::setRunToEnd)
        }
        Column {
            OutlinedButton(onClick = { deadlineOpen = true }) {
                Text(state.frameDeadlineMs?.let { "deadline %.0f ms".format(it) } ?: "no deadline")
            }
            DropdownMenu(expanded = deadlineOpen, onDismissRequest = { deadlineOpen = false }) {
                for (millis in FRAME_DEADLINES) {
                    DropdownMenuItem(
                        text = { Text(millis?.let { "answer within %.1f ms".format(it) } ?: "no deadline") },
                        onClick = { model.setFrameDeadline(millis); deadlineOpen = false })
                }
            }
        }
        Column {
            OutlinedButton(onClick = { open = true }, enabled = !state.runToEnd) {
                Text(state.operatingPoint?.label ?: "calibrated policy")
            }
            DropdownMenu(expanded = open, onDismissRequest = { open = false }) {
                DropdownMenuItem(text = { Text("calibrated policy (bundle)") },
                    onClick = { model.choose(null); open = false })
                for (point in manifest.operatingPoints) {
                    DropdownMenuItem(
                        text = { Text("${point.label}: %.2fx".format(point.expectedSpeedup)) },
                        onClick = { model.choose(point); open = false })
                }
            }
        }
    }
}

@Composable
private fun LiveScreen(state: DemoState, model: DemoViewModel) {
    val context = LocalContext.current
    val lifecycleOwner = LocalLifecycleOwner.current
    var granted by remember {
        mutableStateOf(ContextCompat.checkSelfPermission(context, CAMERA) ==
            PackageManager.PERMISSION_GRANTED)
    }
    val ask = rememberLauncherForActivityResult(ActivityResultContracts.RequestPermission()) {
        granted = it
    }
    Column(Modifier.padding(12.dp)) {
        if (!granted) {
            OutlinedButton(onClick = { ask.launch(CAMERA) }) { Text("Allow the camera") }
        } else {
            CameraPreview(model, lifecycleOwner)
        }
        Row {
            Text("Invert (light item on dark)")
            Switch(checked = state.invert, onCheckedChange = model::setInvert)
        }
        state.last?.let { result ->
            Text(result.label, style = MaterialTheme.typography.headlineMedium)
            Text("confidence %.2f, exit %s (%d of %d)".format(result.confidence, result.exitName,
                result.exitIndex + 1, state.manifest!!.stages.size))
            Text("stages: " + result.stageMillis.joinToString { "%.2f ms".format(it) })
            Text("total %.2f ms, stopped by %s%s".format(result.elapsedMillis, result.stoppedBy.word,
                if (result.deadlineMet == false) " (late)" else ""))
        }
    }
}

/**
 * One camera binding for as long as this screen is shown: the controller is
 * created once per lifecycle owner, bound when the screen appears, and its
 * analyzer cleared and the camera unbound when it goes (leaving the tab,
 * rotating, closing), so frames never reach two analyzers at once. Frames are
 * analysed on the view model's inference thread, never the main thread.
 */
@Composable
private fun CameraPreview(model: DemoViewModel, lifecycleOwner: LifecycleOwner) {
    val context = LocalContext.current
    val controller = remember(lifecycleOwner) {
        LifecycleCameraController(context).apply {
            imageAnalysisBackpressureStrategy = ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST
        }
    }
    DisposableEffect(controller, lifecycleOwner) {
        controller.setImageAnalysisAnalyzer(model.inferenceExecutor) { frame -> model.analyze(frame) }
        controller.bindToLifecycle(lifecycleOwner)
        onDispose {
            controller.clearImageAnalysisAnalyzer()
            controller.unbind()
        }
    }
    AndroidView(
        modifier = Modifier.fillMaxWidth().height(280.dp),
        factory = { viewContext -> PreviewView(viewContext).also { it.controller = controller } })
}

@Composable
private fun StatisticsScreen(state: DemoState) {
    Column(Modifier.padding(12.dp)) {
        Text("${state.count} images since the last policy change; figures below over the last ${state.windowCount}")
        Text("p50 %.2f ms, p95 %.2f ms".format(state.p50Millis, state.p95Millis))
        Text("saved %.0f%% of the time of running every stage".format(100 * state.saving))
        state.frameDeadlineMs?.let {
            Text("late: %.1f%% of frames missed the %.1f ms deadline".format(100 * state.missRate, it))
        }
        state.manifest?.expectedAccuracy?.let {
            Text("calibration expected accuracy %.2f%%".format(100 * it))
        }
        for ((exit, share) in state.histogram) {
            Text("%s %.0f%%".format(exit, 100 * share))
            LinearProgressIndicator(progress = { share.toFloat() }, modifier = Modifier.fillMaxWidth())
        }
    }
}
