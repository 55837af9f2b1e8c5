import keras

from mexit_tf.errors import MexitError
from mexit_tf.layers.encoder_block import EncoderBlock
from mexit_tf.layers.patch_embedding import PatchEmbedding
from mexit_tf.models.vit_presets import decode_variant


@keras.saving.register_keras_serializable(package="mexit_tf")
class ViTBackbone(keras.Model):
    """Vision Transformer backbone whose every block output is reachable.

    The encoder blocks are unrolled in the functional graph (keras-hub hides
    them in one `ViTEncoder` layer), so `block_outputs[k]` is the residual
    stream after block k (1-based), before the final LayerNorm. The model's
    own output is the final LayerNorm-ed token sequence `(B, 1 + N, D)`.

    Inputs are raw pixels: `pixel_scale` and `pixel_offset` (default: /255)
    live inside the model so an exported stage 0 takes camera values as is.
    Set `pixel_scale=1.0` for inputs that are already scaled.

    Other signals enter through a `frontend` layer in place of the rescaling,
    e.g. `LogMelSpectrogram` for audio: the model then takes raw samples
    `(batch, num_samples)` and `image_shape` is what the frontend emits (a
    spectrogram `(frames, mels, 1)`, usually with a non-square patch grid).

    Args:
        image_shape: `(height, width, channels)`.
        patch_size: int or `(ph, pw)`; must divide the image size.
        hidden_dim, num_layers, num_heads, mlp_dim: transformer size.
        dropout_rate, attention_dropout: regularization inside blocks.
        layer_norm_epsilon: LayerNorm epsilon.
        use_class_token: prepend a class token.
        pixel_scale, pixel_offset: `x * scale + offset` applied to raw input.
        pixel_mean, pixel_std: per-channel normalisation after that,
            `(x * scale + offset - mean) / std` (ImageNet-style; what a
            keras-hub image converter does), folded into the same layer.
        distillation_token: DeiT's second special token (after the class token).
        num_register_tokens: DINOv2's register tokens (no position embedding).
        layer_scale: DINOv2's layer-scale initial value; None: none.
        mlp_kind: `"gelu"` or `"swiglu"` (DINOv2 giant); `mlp_dim` is then the
            width of each SwiGLU half.
        frontend: a layer with `raw_input_shape` (e.g. `LogMelSpectrogram`)
            that maps raw input to the patch embedding's input; replaces
            the pixel rescaling. `image_shape` may then be left out.
        layer_prefix: prepended to the names of the backbone's own layers,
            so two backbones can live in one model (`AudioVisualModel`).

    Example:
    >>> backbone = ViTBackbone.from_preset("XS/4", image_shape=(28, 28, 1))
    >>> sorted(backbone.block_outputs)[:3]
    [1, 2, 3]
    """

    def __init__(self, image_shape=None, patch_size=16, hidden_dim=192, num_layers=12,
                 num_heads=3, mlp_dim=768, dropout_rate=0.0, attention_dropout=0.0,
                 layer_norm_epsilon=1e-6, use_class_token=True, pixel_scale=1 / 255.0,
                 pixel_offset=0.0, frontend=None, layer_prefix="", pixel_mean=None,
                 pixel_std=None, distillation_token=False, num_register_tokens=0,
                 layer_scale=None, mlp_kind="gelu", **kwargs):
        if isinstance(frontend, dict):
            frontend = keras.saving.deserialize_keras_object(frontend)
        if frontend is not None:
            raw_input_shape = tuple(frontend.raw_input_shape)
            emitted = tuple(frontend.compute_output_shape((None, *raw_input_shape))[1:])
            if image_shape is not None and tuple(image_shape) != emitted:
                raise MexitError(f"The frontend emits {emitted}; received image_shape "
                                 f"{tuple(image_shape)}. Leave image_shape out.")
            image_shape = emitted
        elif image_shape is None:
            raise MexitError("image_shape is required unless a frontend gives it.")
        image_shape = tuple(int(s) for s in image_shape)
        patch = (patch_size, patch_size) if isinstance(patch_size, int) else tuple(patch_size)
        if len(image_shape) != 3:
            raise MexitError(f"image_shape must be (height, width, channels); "
                             f"received {image_shape}.")
        if image_shape[0] % patch[0] or image_shape[1] % patch[1]:
            raise MexitError(
                f"Image size {image_shape[0]}x{image_shape[1]} is not divisible by the patch "
                f"size {patch[0]}x{patch[1]}.")
        if num_layers < 1:
            raise MexitError(f"num_layers must be >= 1; received {num_layers}.")
        if (pixel_mean is None) != (pixel_std is None):
            raise MexitError(f"pixel_mean and pixel_std go together; received "
                             f"pixel_mean={pixel_mean}, pixel_std={pixel_std}.")
        scale, offset = pixel_scale, pixel_offset
        if pixel_mean is not None:
            pixel_mean = [float(m) for m in pixel_mean]
            pixel_std = [float(s) for s in pixel_std]
            if len(pixel_mean) != image_shape[-1] or len(pixel_std) != image_shape[-1] or min(
                    pixel_std) <= 0:
                raise MexitError(f"pixel_mean and pixel_std need one value per channel "
                                 f"({image_shape[-1]}), std > 0; received {pixel_mean}, "
                                 f"{pixel_std}.")
            # One Rescaling layer (per channel) keeps stage 0's stem one op pair.
            scale = [pixel_scale / s for s in pixel_std]
            offset = [(pixel_offset - m) / s for m, s in zip(pixel_mean, pixel_std, strict=True)]

        # === Layers ===
        # The attribute keeps its name for images, so models saved before
        # frontends existed load as they are.
        self.rescaling = frontend or keras.layers.Rescaling(scale, offset,
                                                            name=f"{layer_prefix}rescaling")
        self.patch_embedding = PatchEmbedding(
            image_shape, patch, hidden_dim, use_class_token, distillation_token,
            num_register_tokens, name=f"{layer_prefix}patch_embedding")
        self.encoder_blocks = [
            EncoderBlock(hidden_dim, num_heads, mlp_dim, dropout_rate, attention_dropout,
                         layer_norm_epsilon, layer_scale=layer_scale, mlp_kind=mlp_kind,
                         name=f"{layer_prefix}block_{i + 1}")
            for i in range(num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon,
                                                          name=f"{layer_prefix}final_norm")

        # === Functional model ===
        self.input_kind = "image" if frontend is None else "audio"
        self.raw_input_shape = image_shape if frontend is None else raw_input_shape
        images = keras.Input(shape=self.raw_input_shape,
                             name="image" if frontend is None else "waveform")
        tokens = self.patch_embedding(self.rescaling(images))
        block_outputs = {}
        for index, block in enumerate(self.encoder_blocks, start=1):
            tokens = block(tokens)
            block_outputs[index] = tokens
        super().__init__(inputs=images, outputs=self.final_norm(tokens), **kwargs)

        # === Config ===
        self.block_outputs = block_outputs
        self.image_shape = image_shape
        self.patch_size = patch
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.mlp_dim = int(mlp_dim)
        self.dropout_rate = float(dropout_rate)
        self.attention_dropout = float(attention_dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.use_class_token = bool(use_class_token)
        self.pixel_scale = float(pixel_scale)
        self.pixel_offset = float(pixel_offset)
        self.frontend = frontend
        self.layer_prefix = str(layer_prefix)
        self.pixel_mean = pixel_mean
        self.pixel_std = pixel_std
        self.distillation_token = bool(distillation_token)
        self.num_register_tokens = int(num_register_tokens)
        self.layer_scale = None if layer_scale is None else float(layer_scale)
        self.mlp_kind = mlp_kind
        self.grid_shape = self.patch_embedding.grid_shape
        # Special tokens after the class token; exit heads skip them to reach the grid.
        self.extra_tokens = self.patch_embedding.num_prefix_tokens - int(self.use_class_token)

    def grid_shape_at(self, block: int) -> tuple[int, int]:
        """The patch grid after `block`: the same after every block of a ViT."""
        return self.grid_shape

    @classmethod
    def from_preset(cls, name: str, image_shape=None, **kwargs) -> "ViTBackbone":
        """Randomly initialised backbone of a named size, e.g. `"Ti/16"` or `"XS/4"`.

        `image_shape` defaults to (224, 224, 3) for patch >= 16, else (32, 32, 3).
        Any constructor argument may be overridden. For pretrained weights, build
        a keras-hub backbone and use `mexit_tf.from_keras_hub`.
        """
        config = decode_variant(name)
        if image_shape is None and kwargs.get("frontend") is None:
            image_shape = (224, 224, 3) if config["patch_size"] >= 16 else (32, 32, 3)
        return cls(image_shape=image_shape, **{**config, **kwargs})

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "image_shape": list(self.image_shape), "patch_size": list(self.patch_size),
            "hidden_dim": self.hidden_dim, "num_layers": self.num_layers,
            "num_heads": self.num_heads, "mlp_dim": self.mlp_dim,
            "dropout_rate": self.dropout_rate, "attention_dropout": self.attention_dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "use_class_token": self.use_class_token,
            "pixel_scale": self.pixel_scale, "pixel_offset": self.pixel_offset,
            "frontend": (None if self.frontend is None
                         else keras.saving.serialize_keras_object(self.frontend)),
            "layer_prefix": self.layer_prefix,
            "pixel_mean": self.pixel_mean, "pixel_std": self.pixel_std,
            "distillation_token": self.distillation_token,
            "num_register_tokens": self.num_register_tokens,
            "layer_scale": self.layer_scale, "mlp_kind": self.mlp_kind,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
