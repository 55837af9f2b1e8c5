"""Exit heads, one file each, available by short name through `EXIT_HEADS`."""

from mexit_tf.errors import MexitError
from mexit_tf.layers.exits.cnn_add import CnnAddExit
from mexit_tf.layers.exits.cnn_ignore import CnnIgnoreExit
from mexit_tf.layers.exits.cnn_project import CnnProjectExit
from mexit_tf.layers.exits.exit_head import EXIT_HEADS, ExitHead, register_exit_head
from mexit_tf.layers.exits.mixer_ee import MixerExit
from mexit_tf.layers.exits.mlp_ee import MlpExit
from mexit_tf.layers.exits.resmlp_ee import ResMlpExit
from mexit_tf.layers.exits.sl_vit import SLViTExit
from mexit_tf.layers.exits.vit_ee import ViTExit


def get_exit_head(head_type: str, num_outputs: int, /, **kwargs) -> ExitHead:
    """Builds an exit head by its short name, e.g. `get_exit_head("sl_vit", 10)`."""
    if head_type not in EXIT_HEADS:
        raise MexitError(
            f"Unknown exit head {head_type!r}; known heads: {', '.join(sorted(EXIT_HEADS))}.")
    return EXIT_HEADS[head_type](num_outputs, **kwargs)


__all__ = [
    "EXIT_HEADS", "CnnAddExit", "CnnIgnoreExit", "CnnProjectExit", "ExitHead", "MixerExit",
    "MlpExit", "ResMlpExit", "SLViTExit", "ViTExit", "get_exit_head", "register_exit_head",
]
