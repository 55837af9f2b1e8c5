"""The bundle manifest: the contract between exporter, Python runtime and Android app.

Change its layout only together with FORMAT_VERSION.
"""

import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path

from mexit_tf.errors import MexitError
from mexit_tf.gating.exit_policy import ExitPolicy

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SCHEMA_FILE = Path(__file__).with_name("manifest.schema.json")
# Bounds a reader holds to before it parses or allocates anything (the Kotlin loader too).
MAX_MANIFEST_BYTES = 8 << 20
MAX_NESTING = 64
MAX_TENSOR_ELEMENTS = 1 << 26
MAX_STAGE_BYTES = 2 << 30


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _schema_validator():
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def field_path(parts) -> str:
    """`("stages", 0, "file")` -> `stages[0].file`: how every reader names a field."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _shown(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _schema_error(error) -> str:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        return f"{field_path([*path, missing[0]])} is missing"
    if error.validator in ("pattern", "not") and path and path[-1] == "file":
        return (f"{field_path(path)} must be a plain file name inside the bundle (no folders, "
                f"no leading dot); received {_shown(error.instance)}")
    if error.validator == "not":
        return f"{field_path(path)} holds a control character; received {_shown(error.instance)}"
    expected = {"type": f"of type {error.validator_value}",
                "enum": f"one of {error.validator_value}",
                "const": f"{error.validator_value!r}"}.get(error.validator)
    if expected:
        return f"{field_path(path)} must be {expected}; received {_shown(error.instance)}"
    return f"{field_path(path)}: {_shown(error.instance)} is not allowed ({error.validator} " \
           f"{_shown(error.validator_value)})"


def _too_deep(value) -> str | None:
    """The path of the first list or object nested deeper than MAX_NESTING, or None;
    without recursion (a hostile file can nest deeply)."""
    pending = [(value, 1, ())]
    while pending:
        item, depth, path = pending.pop()
        if isinstance(item, dict | list):
            if depth > MAX_NESTING:
                return field_path(path)
            children = item.items() if isinstance(item, dict) else enumerate(item)
            pending.extend((child, depth + 1, (*path, key)) for key, child in children)
    return None


def parse_manifest_text(text: str | bytes, where: str = "manifest") -> dict:
    """Parses manifest JSON within the contract's bounds (size, nesting, finite numbers)."""
    if len(text) > MAX_MANIFEST_BYTES:
        raise MexitError(f"{where} is {len(text)} bytes; a manifest is at most "
                         f"{MAX_MANIFEST_BYTES} bytes.")

    def refuse_constant(name):
        raise ValueError(f"{name} is not a JSON number")

    def finite_float(literal):
        value = float(literal)
        if not math.isfinite(value):
            raise ValueError(f"{literal} is out of range")
        return value

    try:
        manifest = json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)
    except RecursionError:
        raise MexitError(f"{where} nests deeper than {MAX_NESTING} levels.") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise MexitError(f"{where} is not valid JSON ({str(error).splitlines()[0][:200]}).") \
            from None
    deep = _too_deep(manifest)
    if deep:
        raise MexitError(f"{where}: {deep} nests deeper than {MAX_NESTING} levels.")
    return manifest


def validate_manifest(manifest, where: str = "manifest") -> dict:
    """Checks a parsed manifest against the one contract: the JSON Schema shipped beside
    this file, then the rules a schema cannot say (below; Manifest.kt applies the same,
    tests/manifest_vectors hold the cases both must agree on). Raises MexitError naming
    the field, e.g. `manifest.json: stages[0].file must be a plain file name ...`."""
    if not isinstance(manifest, dict):
        raise MexitError(f"{where} must hold a JSON object; received {type(manifest).__name__}.")
    deep = _too_deep(manifest)
    if deep:
        raise MexitError(f"{where}: {deep} nests deeper than {MAX_NESTING} levels.")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise MexitError(f"{where}: format_version is {_shown(version)}; this mexit_tf reads "
                         f"version {FORMAT_VERSION}. Re-export the bundle or upgrade mexit_tf.")
    # The first error by field order, so a message does not change from run to run.
    errors = sorted(_schema_validator().iter_errors(manifest),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise MexitError(f"{where}: {_schema_error(errors[0])}.")
    _whole_numbers(manifest)
    _check_stages(manifest, where)
    _check_policy(manifest["policy"], len(manifest["stages"]), where)
    stages = manifest["stages"]
    try:
        policy = ExitPolicy.from_dict(manifest["policy"])
    except MexitError as error:
        raise MexitError(f"{where}: policy: {error}") from None
    if policy.num_exits != len(stages):
        raise MexitError(f"{where}: policy covers {policy.num_exits} exits but the bundle "
                         f"has {len(stages)} stages.")
    return manifest


def _whole_numbers(manifest: dict) -> None:
    """Integers written as `2.0` pass the schema (JSON has one number type, and the Kotlin
    reader cannot tell them apart); they become ints where counts and sizes are read."""
    def whole(values):
        return [int(v) for v in values]

    spec = manifest["input"]
    for part in [spec, *spec.get("parts", [])]:
        part["shape"] = whole(part["shape"])
    for stage in manifest["stages"]:
        for tensor in [*stage["inputs"], *stage["outputs"]]:
            tensor["shape"] = whole(tensor["shape"])
    policy = manifest["policy"]
    for key in ("patience", "num_exits"):
        if key in policy:
            policy[key] = int(policy[key])


def _check_shape(shape, path: str, where: str) -> None:
    if math.prod(shape) > MAX_TENSOR_ELEMENTS:
        raise MexitError(f"{where}: {path} {shape} has more than {MAX_TENSOR_ELEMENTS} "
                         "elements.")


def _check_stages(manifest: dict, where: str) -> None:
    stages = manifest["stages"]
    _check_shape(manifest["input"]["shape"], "input.shape", where)
    for position, part in enumerate(manifest["input"].get("parts", [])):
        _check_shape(part["shape"], f"input.parts[{position}].shape", where)
    widths = []
    for index, stage in enumerate(stages):
        roles = [output.get("role") for output in stage["outputs"]]
        if roles.count("logits") != 1:
            raise MexitError(f"{where}: stages[{index}].outputs must hold one 'logits' output; "
                             f"received roles {roles}.")
        if index < len(stages) - 1 and not {"hidden", "audio_token"} & set(roles):
            raise MexitError(f"{where}: stages[{index}].outputs hand nothing on ('hidden' or "
                             f"'audio_token'), as every stage but the last must; received roles "
                             f"{roles}.")
        for kind in ("inputs", "outputs"):
            for position, tensor in enumerate(stage[kind]):
                _check_shape(tensor["shape"], f"stages[{index}].{kind}[{position}].shape", where)
        widths.append((stage["outputs"][roles.index("logits")]["shape"][-1],
                       f"stages[{index}].outputs[{roles.index('logits')}].shape"))
    if manifest.get("task", "classification") == "classification":
        count = widths[0][0]
        for width, path in widths[1:]:
            if width != count:
                raise MexitError(f"{where}: {path} gives {width} classes where stage 0 gives "
                                 f"{count}; every exit answers the same classes.")
        labels = manifest["labels"]
        if labels and len(labels) != count:
            raise MexitError(f"{where}: labels holds {len(labels)} names but the logits have "
                             f"{count} classes.")


# Per policy type: how many thresholds it takes for K stages, and their range.
_THRESHOLDS = {"confidence": (1, (0.0, 1.0)), "margin": (1, (0.0, 1.0)),
               "entropy": (1, (0.0, math.inf)), "std": (1, (0.0, math.inf)),
               "agreement": (2, (0.0, math.inf))}


def _check_policy(policy: dict, stages: int, where: str) -> None:
    """The policy covers the stages, named by field (the policy classes check the rest)."""
    kind = policy["type"]
    if kind in _THRESHOLDS:
        fewer, (low, high) = _THRESHOLDS[kind]
        values, want = policy["thresholds"], max(stages - fewer, 0)
        if len(values) != want:
            raise MexitError(f"{where}: policy.thresholds holds {len(values)} values; a {kind} "
                             f"policy over {stages} stages takes {want}.")
        for position, value in enumerate(values):
            if not low <= value <= high:
                raise MexitError(f"{where}: policy.thresholds[{position}] of a {kind} policy "
                                 f"must be in [{low}, {high}]; received {value}.")
    elif kind == "budget" and len(policy["stage_costs"]) != stages:
        raise MexitError(f"{where}: policy.stage_costs holds {len(policy['stage_costs'])} "
                         f"costs; the bundle has {stages} stages.")
    elif kind == "patience" and policy["num_exits"] != stages:
        raise MexitError(f"{where}: policy.num_exits is {policy['num_exits']}; the bundle has "
                         f"{stages} stages.")


def stage_file(bundle: Path, name: str) -> Path:
    """The stage file `name` inside `bundle`, refused when it (or a link on the way) leaves
    the folder or is not a regular file of a plausible size."""
    path = bundle / name
    inside = bundle.resolve()
    resolved = path.resolve()
    if resolved.parent != inside:
        raise MexitError(f"Stage file {name!r} leads outside the bundle {str(bundle)!r} "
                         f"(to {str(resolved)!r}); refusing to read it.")
    if not resolved.is_file():
        raise MexitError(f"Stage file {name!r} is missing from {bundle} (or is not a file).")
    size = resolved.stat().st_size
    if not 0 < size <= MAX_STAGE_BYTES:
        raise MexitError(f"Stage file {name!r} is {size} bytes; expected 1 to "
                         f"{MAX_STAGE_BYTES}.")
    return resolved


def read_manifest(bundle: str | Path, verify_files: bool = True) -> dict:
    """Loads and validates `bundle/manifest.json`; checks each stage file's place, size and
    sha256."""
    bundle = Path(bundle)
    path = bundle / MANIFEST_NAME
    if not path.is_file():
        raise MexitError(f"{str(bundle)!r} is not a bundle: no {MANIFEST_NAME} in it.")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise MexitError(f"{path} is {path.stat().st_size} bytes; a manifest is at most "
                         f"{MAX_MANIFEST_BYTES} bytes.")
    manifest = validate_manifest(parse_manifest_text(path.read_bytes(), str(path)), str(path))
    if verify_files:
        for stage in manifest["stages"]:
            file = stage_file(bundle, stage["file"])
            if "bytes" in stage and file.stat().st_size != stage["bytes"]:
                raise MexitError(f"Stage file {stage['file']!r} is {file.stat().st_size} bytes; "
                                 f"the manifest says {stage['bytes']}.")
            digest = sha256_of(file)
            if digest != stage["sha256"]:
                raise MexitError(
                    f"Stage file {stage['file']!r} is corrupted: sha256 {digest[:12]}… does "
                    f"not match the manifest's {stage['sha256'][:12]}….")
    return manifest
