import json

import numpy as np
import pytest
from conftest import run_mexit

import mexit_tf
from mexit_tf.data import fashion_mnist_c, load_fashion_mnist, load_fashion_mnist_c
from mexit_tf.data.corruptions import FAMILIES, corrupt
from mexit_tf.data.dataset_loader import load_dataset


@pytest.fixture(scope="module")
def clean():
    return load_fashion_mnist()


@pytest.fixture(scope="module")
def corrupted():
    return load_fashion_mnist_c()


@pytest.fixture
def small(monkeypatch, clean):
    """`load_fashion_mnist_c` on a slice of Fashion-MNIST, so a load takes a fraction of
    a second."""
    monkeypatch.setattr(fashion_mnist_c, "load_fashion_mnist",
                        lambda validation_size, seed: clean.subset(1200, 300, 600))
    return load_fashion_mnist_c


def test_same_seed_same_bytes_other_seed_differs(small):
    first, again, other = small(), small(), small(corruption_seed=1)
    for split in ("x_train", "x_val", "x_test"):
        assert getattr(first, split).tobytes() == getattr(again, split).tobytes()
        assert getattr(first, split).tobytes() != getattr(other, split).tobytes()
    for split in ("train", "validation", "test"):
        for key in ("family", "severity"):
            np.testing.assert_array_equal(first.per_example[split][key],
                                          again.per_example[split][key])
    assert not np.array_equal(first.per_example["test"]["severity"],
                              other.per_example["test"]["severity"])


def test_test_split_is_fashion_mnists_and_clean_images_are_untouched(clean, corrupted):
    np.testing.assert_array_equal(corrupted.y_test, clean.y_test)
    np.testing.assert_array_equal(corrupted.y_val, clean.y_val)
    assert corrupted.class_names == clean.class_names
    for split, x, x_clean in (("train", corrupted.x_train, clean.x_train),
                              ("test", corrupted.x_test, clean.x_test)):
        severity = corrupted.per_example[split]["severity"]
        assert x.shape == x_clean.shape and x.dtype == np.uint8
        np.testing.assert_array_equal(x[severity == 0], x_clean[severity == 0])
        changed = np.any(x[severity > 0] != x_clean[severity > 0], axis=(1, 2, 3))
        assert changed.mean() > 0.99  # (a blur of an almost empty image may change nothing)
    assert corrupted.record["kind"] == "fashion_mnist_c"


def test_mix_a_third_clean_the_rest_even_over_families_and_severities(corrupted):
    info = corrupted.per_example["test"]
    family, severity = info["family"], info["severity"]
    assert len(family) == len(severity) == 10000
    assert np.sum(severity == 0) == 3333
    assert set(family[severity == 0]) == {"none"} and "none" not in family[severity > 0]
    cells = [np.sum((family == f) & (severity == s)) for f in FAMILIES for s in range(1, 6)]
    assert min(cells) >= 166 and max(cells) <= 167  # 6667 dealt over 40 cells


def test_each_family_changes_images_more_as_severity_rises(clean):
    images = clean.x_test[:300, ..., 0].astype(np.float32) / 255.0
    for family in FAMILIES:
        change = [np.abs(corrupt(images, family, level, np.random.default_rng(0), images)
                         - images).mean() for level in range(1, 6)]
        assert np.all(np.diff(change) > 0), (family, change)


def test_subset_keeps_per_example_values_aligned(small):
    data = small()
    part = data.subset(10, 5, 7)
    assert {k: len(v["severity"]) for k, v in part.per_example.items()} == {
        "train": 10, "validation": 5, "test": 7}
    np.testing.assert_array_equal(part.per_example["test"]["family"],
                                  data.per_example["test"]["family"][:7])


def test_bad_input_is_a_one_line_error(small):
    with pytest.raises(mexit_tf.MexitError, match="corruption_seed must be"):
        small(corruption_seed=-1)
    with pytest.raises(mexit_tf.MexitError, match="Unknown corruption 'fog'"):
        corrupt(np.zeros((1, 28, 28)), "fog", 1, np.random.default_rng(0))
    with pytest.raises(mexit_tf.MexitError, match="severity must be 1-5; received 6"):
        corrupt(np.zeros((1, 28, 28)), "contrast", 6, np.random.default_rng(0))
    with pytest.raises(mexit_tf.MexitError, match="'fashion_mnist_c'"):
        load_dataset({"dataset": "fashion_mnist_d"})


def test_loader_takes_the_corruption_seed_apart_from_the_split_seed(small):
    by_config = load_dataset({"dataset": "fashion_mnist_c", "corruption_seed": 1})
    assert by_config.x_test.tobytes() == small(corruption_seed=1).x_test.tobytes()
    assert by_config.record["corruption_seed"] == 1


def test_train_smoke_on_fashion_mnist_c(tmp_path):
    result = run_mexit("train", "--data", "fashion_mnist_c", "--smoke", "--json",
                       "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout[result.stdout.index("{\n"):])  # after the progress lines
    assert out["data"]["kind"] == "fashion_mnist_c" and out["data"]["corruption_seed"] == 0
    assert "corrupted (fashion_mnist_c" in out["data_description"]
    assert set(out["test"]) == {"exit_1", "final"}


def test_corruption_depth_benchmark_smoke_and_its_report_section(tmp_path):
    from conftest import load_benchmark

    result = load_benchmark("corruption_depth").main(["--smoke"])
    assert result["exits"][-1] == "final"
    assert set(result["by_severity"]["final"]) <= {str(s) for s in range(6)}
    assert set(result["by_family"]["final"]) <= set(FAMILIES)
    assert result["depth_gain"]["first"] == "exit_1"
    # The report section and plot work from the result alone (with provenance added).
    from _plots import plot_corruption_depth
    from _report_corruption import corruption_depth_section

    plot_corruption_depth(result, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 0
    result.update(command="python benchmarks/corruption_depth.py --smoke", seed=0,
                  versions={"keras": "3"}, machine={"cpu_count": 2, "processor": "x",
                                                    "machine": "x86_64", "system": "Linux"})
    text = "\n".join(corruption_depth_section(result))
    assert "| final |" in text and "severity 0" in text
