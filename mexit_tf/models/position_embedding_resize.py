"""Position embeddings for another patch grid than the one a ViT was pretrained on."""

import keras
import numpy as np


def resize_position_embedding(embedding, source_grid, target_grid,
                              num_prefix_tokens: int = 1) -> np.ndarray:
    """Resizes `(1, prefix + gh * gw, D)` position embeddings to another grid.

    Only the patch grid is interpolated (bicubic, as timm's
    `resample_abs_pos_embed` and big_vision do); the special tokens' positions
    (class, DeiT's distillation token) are kept apart and put back in front.

    Example:
    >>> resized = resize_position_embedding(np.zeros((1, 1 + 14 * 14, 192)), (14, 14), (10, 10))
    >>> resized.shape
    (1, 101, 192)
    """
    embedding = np.asarray(embedding, dtype="float32")
    source_grid, target_grid = tuple(source_grid), tuple(target_grid)
    width = embedding.shape[-1]
    if embedding.shape[1] != num_prefix_tokens + source_grid[0] * source_grid[1]:
        raise ValueError(f"{embedding.shape[1]} position embeddings do not hold "
                         f"{num_prefix_tokens} special tokens and a {source_grid} grid.")
    if source_grid == target_grid:
        return embedding
    prefix, grid = embedding[:, :num_prefix_tokens], embedding[:, num_prefix_tokens:]
    grid = grid.reshape(1, *source_grid, width)
    resized = keras.ops.image.resize(grid, target_grid, interpolation="bicubic",
                                     antialias=False, data_format="channels_last")
    resized = keras.ops.convert_to_numpy(resized).reshape(1, -1, width)
    return np.concatenate([prefix, resized], axis=1)
