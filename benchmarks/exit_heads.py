"""Exit-head study: the eight heads at three depths, three ways of training them.

For each head type (paper 1's seven and paper 2's `sl_vit`), at an early, a
middle and a late block of the XS/4 CPU backbone:

- *end to end*: a multi-exit model with that head at the three depths, trained
  from scratch (every exit's loss reaches the backbone);
- *classifier-wise*: the backbone trained alone (final exit only) is frozen and
  each head learns on its tokens with the true labels;
- *copycat*: the same frozen backbone, each head learns to copy the final
  exit's answers (paper 2), no labels used.

A frozen backbone gives every head the same tokens whatever is trained after
it, so classifier-wise and copycat heads are trained on the block outputs
computed once (no augmentation there). Every model is trained with the same
recipe (`_study.study_recipe`). Alongside accuracy: params, multiply-adds and
measured LiteRT latency (1 thread) of the head alone and of each stage of the
end-to-end bundle, timed side by side.

    python benchmarks/exit_heads.py          # 20k train images, 2 epochs (~45 min on 2 CPUs)
    python benchmarks/exit_heads.py --train-images 55000 --epochs 7   # the preset's budget
    python benchmarks/exit_heads.py --smoke  # tiny model on noise, for tests
"""

import argparse
import sys
import time
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved_medians, run_call, save_result  # noqa: E402
from _study import (  # noqa: E402
    accuracy,
    study_arguments,
    study_backbone,
    study_setup,
    train_cached,
)
from mexit_tf.converters.stage_builder import build_stage_models  # noqa: E402
from mexit_tf.converters.tflite_conversion import convert_to_tflite  # noqa: E402
from mexit_tf.converters.tflite_inspection import multiply_adds  # noqa: E402

from mexit_tf.data.array_batches import ArrayBatches  # noqa: E402
from mexit_tf.models.multi_exit_model import FINAL_EXIT, MultiExitModel, exit_name  # noqa: E402
from mexit_tf.runtime.litert_stage import LiteRTStage  # noqa: E402
from mexit_tf.training.trainer import build_optimizer  # noqa: E402

HEADS = ("mlp_ee", "cnn_ignore", "cnn_add", "cnn_project", "resmlp_ee", "mixer_ee", "vit_ee",
         "sl_vit")
CONVENTIONAL = ("mlp_ee", "cnn_ignore", "cnn_add", "cnn_project", "resmlp_ee", "mixer_ee")
REGIMES = ("end_to_end", "classifier_wise", "copycat")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    study_arguments(parser)
    parser.add_argument("--heads", nargs="+", choices=HEADS,
                        help="default: all eight (smoke: mlp_ee vit_ee sl_vit)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    study = study_setup(args)
    recipe, data, work, runs = study.recipe, study.data, study.work, study.runs
    num_layers, num_classes = study.num_layers, study.num_classes
    depths = (1, 2, 3) if args.smoke else (1, 3, 5)
    heads = args.heads or (("mlp_ee", "vit_ee", "sl_vit") if args.smoke else HEADS)

    # The backbone trained alone: base of the classifier-wise and copycat heads.
    base, base_seconds = train_cached(
        f"truncated_{num_layers}",
        lambda: MultiExitModel(study_backbone(args.smoke), exits={}, num_outputs=num_classes),
        data, recipe, work)
    train_tokens = _block_tokens(base, data.x_train, depths)
    test_tokens = _block_tokens(base, data.x_test, depths)
    teacher = _predict(base, data.x_train)[FINAL_EXIT].argmax(-1)
    rows, fit_seconds, latency_models = {}, {"backbone alone": base_seconds}, {}
    for head in heads:
        model, fit_seconds[f"end_to_end {head}"] = train_cached(
            f"end_to_end_{head}",
            lambda h=head: MultiExitModel(study_backbone(args.smoke),
                                          exits={d: h for d in depths}, num_outputs=num_classes),
            data, recipe, work)
        test_outputs = _predict(model, data.x_test)
        row = {"accuracy": {"end_to_end": {str(d): accuracy(test_outputs[exit_name(d)],
                                                            data.y_test) for d in depths}},
               "end_to_end_final_accuracy": accuracy(test_outputs[FINAL_EXIT], data.y_test)}
        probes = {}
        for regime, targets in (("classifier_wise", data.y_train), ("copycat", teacher)):
            begun = time.perf_counter()
            row["accuracy"][regime] = {}
            for index, depth in enumerate(depths):
                probe = _train_probe(head, depth, base.backbone, train_tokens[index], targets,
                                     num_classes, recipe)
                row["accuracy"][regime][str(depth)] = accuracy(
                    probe.predict(test_tokens[index], batch_size=256, verbose=0), data.y_test)
                probes.setdefault(regime, probe)
            fit_seconds[f"{regime} {head}"] = round(time.perf_counter() - begun, 1)
        head_layer = probes["classifier_wise"].layers[-1]
        head_model = _batch_one(head_layer, train_tokens[0].shape[1:])
        head_file = convert_to_tflite(head_model)
        row.update(params=int(head_layer.count_params()), macs=multiply_adds(head_file))
        latency_models[f"head {head}"] = (head_file, train_tokens[0][:1])
        _add_stages(latency_models, head, model, data.x_test[:1])
        rows[head] = row
        print(head, row, flush=True)
    block_model = _batch_one(base.backbone.encoder_blocks[0], train_tokens[0].shape[1:])
    latency_models["one encoder block"] = (convert_to_tflite(block_model), train_tokens[0][:1])
    medians = _time_all(latency_models, runs)
    for head, row in rows.items():
        row["head_ms"] = round(medians[f"head {head}"], 4)
        stage_ms = [medians[f"{head} stage {k}"] for k in range(len(depths) + 1)]
        row["stage_ms"] = [round(ms, 4) for ms in stage_ms]
        row["cumulative_ms"] = {str(d): round(sum(stage_ms[:i + 1]), 4)
                                for i, d in enumerate(depths)}
    result = {
        "data": data.describe(), "recipe": recipe, "depths": list(depths),
        "num_layers": num_layers, "runs": runs, "threads": 1,
        "backbone_alone_accuracy": accuracy(_predict(base, data.x_test)[FINAL_EXIT],
                                            data.y_test),
        "block_ms": round(medians["one encoder block"], 4), "heads": rows,
        "fit_seconds": fit_seconds, "claims": paper_claims(rows, depths),
        "wall_seconds": round(time.perf_counter() - started, 1)}
    if not args.smoke:
        save_result("exit_heads", result, "python benchmarks/exit_heads.py --train-images "
                    f"{args.train_images} --epochs {args.epochs}", recipe["seed"],
                    note=args.note)
    print(result["claims"])
    return result


def paper_claims(rows: dict, depths) -> dict:
    """The papers' claims checked on these figures, true or false as measured."""
    claims = {}
    if "sl_vit" in rows and "vit_ee" in rows:
        conventional = [h for h in CONVENTIONAL if h in rows]
        checks = []
        for regime in REGIMES:
            for depth in map(str, depths):
                best = max(rows[h]["accuracy"][regime][depth] for h in conventional)
                checks.append(rows["sl_vit"]["accuracy"][regime][depth] > best)
        claims["sl_vit_beats_every_conventional_head"] = {
            "holds_in": sum(checks), "of": len(checks)}
        claims["sl_vit_cheaper_than_vit_ee"] = {
            "macs": rows["sl_vit"]["macs"] < rows["vit_ee"]["macs"],
            "params": rows["sl_vit"]["params"] < rows["vit_ee"]["params"]}
    gains = [rows[h]["accuracy"]["copycat"][str(d)] - rows[h]["accuracy"]["classifier_wise"][str(d)]
             for h in rows for d in depths]
    claims["copycat_beats_classifier_wise"] = {
        "holds_in": int(sum(g > 0 for g in gains)), "of": len(gains),
        "mean_gain_points": round(100 * float(np.mean(gains)), 2)}
    claims["pareto_heads"] = {
        f"{regime} block {d}": pareto_front(rows, regime, str(d))
        for regime in REGIMES for d in depths}
    return claims


def pareto_front(rows: dict, regime: str, depth: str) -> list[str]:
    """Heads that no other head beats on both accuracy and multiply-adds."""
    def dominated(head):
        mine = (rows[head]["accuracy"][regime][depth], -rows[head]["macs"])
        return any(other != head and all(o >= m for o, m in zip(theirs, mine, strict=True))
                   and theirs != mine
                   for other in rows
                   for theirs in [(rows[other]["accuracy"][regime][depth], -rows[other]["macs"])])
    return [head for head in rows if not dominated(head)]


def _predict(model, x) -> dict:
    return model.predict(ArrayBatches(x, batch_size=256, shuffle=False), verbose=0)


def _block_tokens(model, x, depths) -> list[np.ndarray]:
    """The residual stream after each of `depths` blocks, for every image in `x`."""
    backbone = model.backbone
    extractor = keras.Model(backbone.input, [backbone.block_outputs[d] for d in depths])
    extractor.run_eagerly = model.run_eagerly
    return [np.asarray(t) for t in extractor.predict(
        ArrayBatches(x, batch_size=256, shuffle=False), verbose=0)]


def _train_probe(head, depth, backbone, tokens, targets, num_classes, recipe) -> keras.Model:
    keras.utils.set_random_seed(recipe["seed"])
    layer = MultiExitModel._build_head(depth, head, backbone, num_classes)
    inputs = keras.Input(tokens.shape[1:])
    probe = keras.Model(inputs, layer(inputs))
    steps = -(-len(tokens) // recipe["batch_size"])
    probe.compile(optimizer=build_optimizer(recipe, steps, recipe["epochs"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=recipe["jit_compile"], run_eagerly=recipe["run_eagerly"])
    probe.fit(tokens, targets, batch_size=recipe["batch_size"], epochs=recipe["epochs"],
              verbose=0)
    return probe


def _batch_one(layer, token_shape) -> keras.Model:
    inputs = keras.Input(token_shape, batch_size=1)
    return keras.Model(inputs, layer(inputs))


def _add_stages(latency_models: dict, head: str, model, image) -> None:
    x = image.astype("float32")
    for index, stage in enumerate(build_stage_models(model)):
        data = convert_to_tflite(stage)
        latency_models[f"{head} stage {index}"] = (data, x)
        outputs = LiteRTStage(data).run(x)[0]
        x = outputs.get("hidden")


def _time_all(latency_models: dict, runs: int) -> dict:
    return interleaved_medians({name: run_call(LiteRTStage(data), x)
                                for name, (data, x) in latency_models.items()}, runs)


if __name__ == "__main__":
    main()
