"""The tutorial setting over seeds: Keras against the package, in `fixed`, grouped and `bucket` batching.

python benchmarks/tutorial_seeds.py --keras keras_tutorial.jsonl [--figure seeds.png] SWEEP_DIR [SWEEP_DIR ...]

Reads (a) the JSON lines that `benchmarks/keras_parity.py --train` appends (one Keras training
each: model, seed, test_acc; quick tries with `--limit` are left out) and (b) the package's Hydra multirun directories of
`experiment=tutorial` (each job directory: `metrics.json`, `.hydra/config.yaml`, `.hydra/hydra.yaml`).
Each finished job is placed by its own composed config: `data.batching=fixed` → `fixed`,
`fixed` with `data.by_length=true` → `fixed, grouped`, `bucket` → `bucket`; unfinished and failed
jobs are counted and left out. Prints, per model, the mean ± sample sd of the test accuracy over
the seeds of each, each package setting's difference to Keras ± the standard error of that
difference, √(sd²/n + sd²/n), and the verdict: `matches` unless the package's mean lies below
Keras' by more than two standard errors (`below`); then grouped batches against random ones by the
same rule (whether `experiment=tutorial` may group by length); then every seed's accuracy.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package, whatever is installed
from rnn_sentiment.core.errors import UserInputError, exit_on_user_error  # noqa: E402
from rnn_sentiment.core.plots import plt, save_png  # noqa: E402  (pyplot on the Agg backend)
from rnn_sentiment.core.sweep import collect_runs  # noqa: E402

MODELS = {"elman": "Elman", "lstm": "LSTM", "conv_lstm": "Conv-LSTM"}
SETTINGS = ("fixed", "fixed, grouped", "bucket")
KERAS = "Keras"


@dataclass(frozen=True)
class Result:
    """One training's final test accuracy (a fraction)."""

    model: str
    setting: str  # KERAS or one of SETTINGS
    seed: int
    test_acc: float


def read_keras(path: Path) -> tuple[list[Result], list[str]]:
    """The lines of `keras_parity.py --train`, and a note per quick try (`--limit`) left out; a line
    that is not one names its number."""
    if not path.is_file():
        raise UserInputError(f"--keras {path}: no such file; keras_parity.py --train --results {path} writes it")
    results, skipped = [], []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            result = Result(row["model"], KERAS, int(row["seed"]), float(row["test_acc"]))
        except (ValueError, KeyError, TypeError) as error:
            raise UserInputError(f"{path}, line {number}: not a keras_parity.py --train result ({error!r})") from None
        if row.get("limit"):
            skipped.append(f"{path}, line {number}: a quick try on {row['limit']} reviews")
        else:
            results.append(result)
    return results, skipped


def setting_of(config) -> str:
    batching, by_length = config.data.batching, config.data.get("by_length")
    if batching == "bucket":
        return "bucket"
    return "fixed, grouped" if by_length else "fixed"


def read_sweep(sweep_dir: Path) -> tuple[list[Result], list[str]]:
    """The finished `experiment=tutorial` jobs of one multirun directory, and a note per job left out."""
    if not sweep_dir.is_dir():
        raise UserInputError(f"{sweep_dir}: no such sweep directory (hydra.sweep.dir of a multirun)")
    results, skipped = [], []
    for row in collect_runs(sweep_dir):
        job = sweep_dir / row["run"]
        if row["status"] != "finished":
            skipped.append(f"{job}: {row['status']}")
            continue
        hydra = OmegaConf.load(job / ".hydra" / "hydra.yaml").hydra
        config = OmegaConf.load(job / ".hydra" / "config.yaml")
        choices = hydra.runtime.choices
        if choices.get("experiment") != "tutorial" or "test/acc" not in row:
            skipped.append(f"{job}: not an experiment=tutorial run with a test accuracy")
            continue
        results.append(Result(choices.model, setting_of(config), int(config.seed), float(row["test/acc"])))
    return results, skipped


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def compare(package: list[float], keras: list[float]) -> str:
    """`difference ± SE verdict`, in points; the verdict needs two seeds on each side."""
    (mean, sd), (keras_mean, keras_sd) = mean_sd(package), mean_sd(keras)
    difference = 100 * (mean - keras_mean)
    se = 100 * math.sqrt(sd**2 / len(package) + keras_sd**2 / len(keras))
    if math.isnan(se):
        return f"{difference:+.1f} (one seed: no verdict)"
    return f"{difference:+.1f} ± {se:.1f} {'below' if difference < -2 * se else 'matches'}"


def cell(values: list[float]) -> str:
    if not values:
        return "—"
    mean, sd = mean_sd(values)
    return f"{100 * mean:.1f} ± {100 * sd:.1f}" if len(values) > 1 else f"{100 * mean:.1f} (1 seed)"


def by_run(results: list[Result]) -> dict[tuple[str, str], dict[int, float]]:
    """(model, run) → {seed: test accuracy}; a seed run twice keeps the later result."""
    by = {}
    for r in results:
        by.setdefault((r.model, r.setting), {})[r.seed] = r.test_acc
    return by


def tables(results: list[Result]) -> str:
    """The Markdown tables of docs/tutorial.md: mean ± sd with the verdicts, grouped batches against random
    ones, then every seed."""
    by = by_run(results)
    models = [m for m in MODELS if any(key[0] == m for key in by)]
    header = ["model", KERAS] + [part for s in SETTINGS for part in (f"`{s}`", "Δ ± SE")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model in models:
        keras = list(by.get((model, KERAS), {}).values())
        row = [MODELS[model], cell(keras)]
        for setting in SETTINGS:
            package = list(by.get((model, setting), {}).values())
            row += [cell(package), compare(package, keras) if package and keras else "—"]
        lines.append("| " + " | ".join(row) + " |")
    # may experiment=tutorial group its batches by length? only if that costs no accuracy
    grouped = [(MODELS[m], list(by[(m, "fixed, grouped")].values()), list(by[(m, "fixed")].values()))
               for m in models if (m, "fixed, grouped") in by and (m, "fixed") in by]
    if grouped:
        lines += ["", "| model | `fixed, grouped` against `fixed` (random batches): Δ ± SE |", "|---|---|"]
        lines += [f"| {name} | {compare(group, random)} |" for name, group, random in grouped]
    seeds = sorted({seed for runs in by.values() for seed in runs})
    lines += ["", "| model | run | " + " | ".join(f"seed {s}" for s in seeds) + " |",
              "|" + "---|" * (len(seeds) + 2)]
    for model in models:
        for setting in (KERAS, *SETTINGS):
            runs = by.get((model, setting))
            if runs:
                accs = [f"{100 * runs[s]:.2f}" if s in runs else "" for s in seeds]
                lines.append(f"| {MODELS[model]} | {setting} | " + " | ".join(accs) + " |")
    return "\n".join(lines)


def figure(results: list[Result], path: Path) -> Path:
    """Every seed's test accuracy as a dot, per model and run (Keras, then each batching), with the
    mean ± sd beside the dots; written to `path` (PNG)."""
    runs, by = (KERAS, *SETTINGS), by_run(results)
    models = [m for m in MODELS if any(key[0] == m for key in by)]
    if not models:
        raise UserInputError(f"--figure {path}: no results to draw")
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
    for axis, model in zip(axes[0], models):
        for x, run in enumerate(runs):
            accs = [100 * acc for acc in by.get((model, run), {}).values()]
            if not accs:
                continue
            axis.plot([x] * len(accs), accs, "o", alpha=0.6, color="tab:orange" if run == KERAS else "tab:blue")
            mean, sd = mean_sd(accs)
            axis.errorbar(x + 0.2, mean, yerr=0 if math.isnan(sd) else sd, fmt="_", color="black", capsize=4)
        axis.set_xticks(range(len(runs)), [run.replace(", ", ",\n") for run in runs])
        axis.set_title(MODELS[model])
        axis.set_ylabel("test accuracy (%)")
        axis.grid(alpha=0.3, axis="y")
    return save_png(fig, path)


@exit_on_user_error
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keras", type=Path, required=True, help="the JSON lines of keras_parity.py --train")
    parser.add_argument("sweeps", nargs="+", type=Path, help="multirun directories of experiment=tutorial")
    parser.add_argument("--figure", type=Path, help="also draw every seed's accuracy into this PNG")
    args = parser.parse_args(argv)
    results, skipped = read_keras(args.keras)
    for sweep_dir in args.sweeps:
        found, unfinished = read_sweep(sweep_dir)
        results += found
        skipped += unfinished
    for note in skipped:
        print(f"left out: {note}", file=sys.stderr)
    print(tables(results))
    if args.figure:
        print(f"figure: {figure(results, args.figure)}")


if __name__ == "__main__":
    main()
