import subprocess
import sys
import textwrap

import numpy as np

SCRIPT = textwrap.dedent("""
    import os
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    import mexit_tf
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        backbone = mexit_tf.ViTBackbone((8, 8, 1), 2, 16, 2, 2, 32)
        model = mexit_tf.MultiExitModel(backbone, exits={1: "sl_vit"}, num_outputs=3)
        model.compile()
    x = np.random.randint(0, 255, (32, 8, 8, 1)).astype("float32")
    y = np.random.randint(0, 3, 32)
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    print("REPLICAS", strategy.num_replicas_in_sync)
    print("LOSS", history.history["loss"][0], history.history["loss"][-1])
""")


def test_fit_under_mirrored_strategy_on_two_logical_cpus():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REPLICAS 2" in result.stdout
    first, last = map(float, result.stdout.split("LOSS")[1].split())
    assert np.isfinite(first) and np.isfinite(last)
    # Each epoch's loss averages all 32 examples: it moves only if the replicas' summed
    # gradients were applied after epoch 1.
    assert abs(first - last) > 1e-6, (first, last)

