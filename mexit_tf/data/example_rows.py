"""Examples of an array, or of a dict of arrays (paired inputs), without Keras."""


def example_count(x) -> int:
    """How many examples `x` holds: an array's length, or a dict of arrays' common length."""
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def take_rows(x, rows):
    """Rows of an array, or of every array of a dict, as float32."""
    if isinstance(x, dict):
        return {name: values[rows].astype("float32") for name, values in x.items()}
    return x[rows].astype("float32")


def example_at(x, row):
    """Example `row` of an array, or of every array of a dict (paired inputs)."""
    return {name: values[row] for name, values in x.items()} if isinstance(x, dict) else x[row]
