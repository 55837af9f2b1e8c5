"""What every section of docs/benchmarks.md shares: provenance lines, tables, the recipe.

Its own module so that section modules (`_report_*.py`) and `report.py` import it alike.
"""


def provenance(result):
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
    machine = result["machine"]
    seed = f"Seed {result['seed']}. " if "seed" in result else ""
    # Studies record a `note` when a run was not clean (e.g. timed beside other work).
    note = f"Note: {result['note']}  \n" if result.get("note") else ""
    return (f"{note}Command: `{result['command']}`  \n{seed}Machine: {machine['cpu_count']} CPUs "
            f"({machine['processor']}, {machine['machine']}, {machine['system']}); {versions}.")


def table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def recipe(result):
    settings = result["recipe"]
    return (f"Every model trained with one recipe: {settings['backbone']} backbone, first "
            f"{settings['train_images']} training images, {settings['epochs']} epochs, batch "
            f"{settings['batch_size']}, AdamW lr {settings['learning_rate']} (warm-up "
            f"{settings['warmup_epochs']} epoch, cosine), weight decay {settings['weight_decay']}, "
            f"label smoothing {settings['label_smoothing']}, seed {settings['seed']}. This is a "
            "reduced budget (the CPU preset trains 55000 images for 7 epochs), so absolute "
            "accuracies sit below the preset's; the comparisons are like for like.")
