import math

import keras
from keras import ops

from mexit_tf.errors import MexitError

EXIT_HEADS: dict[str, type] = {}


def register_exit_head(name):
    """Class decorator: make a head available by its short name (e.g. `"sl_vit"`)."""

    def register(cls):
        cls.head_type = name
        EXIT_HEADS[name] = keras.saving.register_keras_serializable(package="mexit_tf")(cls)
        return cls

    return register


class ExitHead(keras.layers.Layer):
    """Base class of exit heads: maps block tokens `(B, T, D)` to outputs `(B, C)`.

    Tokens are `[class token] + patch grid (row-major)`. Subclasses use
    `split_tokens` and `patch_grid` to reach the part they consume. The grid
    shape is inferred from the token count when it is square; pass
    `grid_shape` for other grids (e.g. spectrograms).

    A head with `accepts_audio_token` may also be called on `[tokens,
    audio_token]` (an audio-visual exit, `AudioVisualModel`): the audio token
    `(B, 1, D)` joins what the head attends to.

    Args:
        num_outputs: C, classes (logits) or 1 for regression. Outputs are linear.
        grid_shape: `(gh, gw)` of the patch grid, or None to infer a square grid.
        class_token: whether token 0 is a class token.
        layer_norm_epsilon: epsilon of the head's LayerNorms.
        extra_tokens: special tokens between the class token and the grid
            (DeiT's distillation token, DINOv2's registers); heads that read
            the grid skip them, heads that read the class token ignore them.
    """

    head_type = None
    requires_class_token = False
    accepts_audio_token = False

    def __init__(self, num_outputs, grid_shape=None, class_token=True, layer_norm_epsilon=1e-6,
                 extra_tokens=0, **kwargs):
        super().__init__(**kwargs)
        if int(num_outputs) < 1:
            raise MexitError(f"num_outputs must be >= 1; received {num_outputs!r}.")
        if self.requires_class_token and not class_token:
            raise MexitError(
                f"Exit head '{self.head_type}' reads the class token, but the backbone has none "
                "(use_class_token=False). Choose a head that reads patches only "
                "(cnn_ignore, mixer_ee, resmlp_ee, sl_vit) or a backbone with a class token.")
        self.num_outputs = int(num_outputs)
        self.grid_shape = tuple(grid_shape) if grid_shape is not None else None
        self.class_token = bool(class_token)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.extra_tokens = int(extra_tokens)

    @property
    def num_prefix_tokens(self) -> int:
        """Tokens before the patch grid."""
        return int(self.class_token) + self.extra_tokens

    def resolve_grid(self, input_shape):
        """Returns `(gh, gw)`, inferring a square grid from `input_shape` if needed."""
        num_patches = input_shape[1] - self.num_prefix_tokens
        if self.grid_shape is None:
            side = math.isqrt(num_patches)
            if side * side != num_patches:
                raise MexitError(
                    f"Exit head '{self.name}' cannot infer the patch grid of {num_patches} "
                    "tokens (not a square); pass grid_shape=(gh, gw).")
            self.grid_shape = (side, side)
        if self.grid_shape[0] * self.grid_shape[1] != num_patches:
            raise MexitError(
                f"Exit head '{self.name}': grid_shape {self.grid_shape} does not match "
                f"{num_patches} patch tokens.")
        return self.grid_shape

    def split_tokens(self, tokens):
        """Returns `(class_token (B, 1, D) or None, patches (B, N, D))`."""
        if self.class_token:
            return tokens[:, :1, :], tokens[:, self.num_prefix_tokens:, :]
        return None, tokens

    def patch_grid(self, patches):
        """Reshapes patch tokens `(B, N, D)` to a feature map `(B, gh, gw, D)`."""
        gh, gw = self.grid_shape
        return ops.reshape(patches, (-1, gh, gw, patches.shape[-1]))

    @staticmethod
    def split_audio(inputs):
        """`(tokens, audio_token or None)` from `tokens` or `[tokens, audio_token]`.

        Works on tensors and on their shapes (in `build`): a shape is a tuple
        of ints or None, a pair holds two tensors or two shapes."""
        if isinstance(inputs, list | tuple) and len(inputs) == 2 and not isinstance(
                inputs[0], int | None):
            return inputs[0], inputs[1]
        return inputs, None

    def compute_output_shape(self, input_shape):
        return (self.split_audio(input_shape)[0][0], self.num_outputs)

    def get_config(self):
        config = super().get_config()
        config.update(num_outputs=self.num_outputs,
                      grid_shape=list(self.grid_shape) if self.grid_shape else None,
                      class_token=self.class_token, layer_norm_epsilon=self.layer_norm_epsilon)
        if self.extra_tokens:  # left out at 0, so configs saved before it stay the same
            config["extra_tokens"] = self.extra_tokens
        return config
