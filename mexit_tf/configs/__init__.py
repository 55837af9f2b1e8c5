"""Training presets: small functions returning a config dict (big_vision style).

Each docstring states the command, run time and the accuracy to expect;
`smoke=True` shrinks any preset to a CI-sized run.
"""

from mexit_tf.configs.fashion_mnist_cpu import fashion_mnist_cpu
from mexit_tf.configs.finetune import finetune
from mexit_tf.errors import MexitError

PRESETS = {"fashion_mnist_cpu": fashion_mnist_cpu, "finetune": finetune}


def get_preset(name: str, smoke: bool = False) -> dict:
    if name not in PRESETS:
        raise MexitError(f"Unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))}.")
    return PRESETS[name](smoke=smoke)
