"""ViT sizes by short name, big_vision style: "Ti/16" = variant Ti, patch 16."""

from mexit_tf.errors import MexitError

# width, depth, heads, MLP width. XS is our CPU size for 28x28 / 32x32 inputs.
VIT_VARIANTS = {
    "XS": dict(hidden_dim=128, num_layers=6, num_heads=4, mlp_dim=256),
    "Ti": dict(hidden_dim=192, num_layers=12, num_heads=3, mlp_dim=768),
    "S": dict(hidden_dim=384, num_layers=12, num_heads=6, mlp_dim=1536),
    "B": dict(hidden_dim=768, num_layers=12, num_heads=12, mlp_dim=3072),
    "L": dict(hidden_dim=1024, num_layers=24, num_heads=16, mlp_dim=4096),
}


def decode_variant(name: str) -> dict:
    """`"Ti/4"` -> `{"hidden_dim": 192, ..., "patch_size": 4}`."""
    variant, _, patch = str(name).partition("/")
    if variant not in VIT_VARIANTS or not patch.isdigit() or int(patch) < 1:
        raise MexitError(
            f"Unknown ViT size {name!r}; use VARIANT/PATCH with VARIANT in "
            f"{', '.join(VIT_VARIANTS)} (e.g. 'Ti/16', 'XS/4').")
    return {**VIT_VARIANTS[variant], "patch_size": int(patch)}
