from keras import ops


def first_token(tokens):
    """`tokens[:, 0, :]` (the class token), written so it stays inside XNNPACK.

    TFLite lowers `tokens[:, 0, :]` to a STRIDED_SLICE with a shrink-axis mask,
    which XNNPACK does not take: the stage then runs as two partitions with the
    slice on LiteRT's reference kernel between them. Slicing one token and
    reshaping it away converts to SLICE + RESHAPE, which XNNPACK runs.
    """
    return ops.reshape(tokens[:, :1, :], (-1, tokens.shape[-1]))
