"""Side-by-side timing: the median of each candidate, timed in a shuffled alternation."""

import random
import statistics
import time


def interleaved_medians(candidates: dict, runs: int, warmup: int = 20) -> dict:
    """Median ms of each zero-argument callable, timed in alternation run by run.

    Alternating spreads any drift of the machine (other load, frequency) over
    every candidate alike, which keeps their ratio honest. The order is
    shuffled every round: in a fixed order each candidate always inherits the
    caches the same predecessor left, which biased ratios by a few percent.
    """
    for _ in range(warmup):
        for call in candidates.values():
            call()
    samples = {name: [] for name in candidates}
    order = list(candidates)
    shuffler = random.Random(0)
    for _ in range(runs):
        shuffler.shuffle(order)
        for name in order:
            started = time.perf_counter()
            candidates[name]()
            samples[name].append((time.perf_counter() - started) * 1000.0)
    return {name: statistics.median(values) for name, values in samples.items()}
