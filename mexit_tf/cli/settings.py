import ast

from mexit_tf.errors import MexitError


def apply_overrides(config: dict, assignments: list[str]) -> dict:
    """Applies `key=value` overrides (`--set epochs=3 --set backbone.num_layers=4`).

    Values are Python literals (`3`, `2e-3`, `{1: 'sl_vit'}`, `True`); anything
    else is kept as a string. Dotted keys reach into nested dicts.
    """
    config = dict(config)
    for assignment in assignments or []:
        key, separator, raw = assignment.partition("=")
        if not separator or not key:
            raise MexitError(f"--set expects KEY=VALUE; received {assignment!r}.")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        *parents, leaf = key.split(".")
        target = config
        for parent in parents:
            target[parent] = dict(target.get(parent) or {})
            target = target[parent]
        if not parents and leaf not in config:
            raise MexitError(f"Unknown setting {key!r}; known: {', '.join(sorted(config))}.")
        target[leaf] = value
    return config
