"""The sentence-classification benchmarks of Kim (2014) against their published results.

python benchmarks/sentences.py SWEEP_DIR [SWEEP_DIR ...] [--markdown table.md] [--no-baselines]

Reads every job of the multiruns of `experiment=sentences` (docs/sentence_benchmarks.md):
a finished job (`metrics.json`) by its composed `.hydra/config.yaml`: the dataset is the folder of
`data.path` (`sst5` → SST-1, `sst2` → SST-2, `trec` → TREC, `mr` → MR), the model its network
(Elman, LSTM, Conv-LSTM, BiLSTM; `+ IMDB LM` when `encoder_ckpt` is set). Then it fits the
linear baselines (`python -m rnn_sentiment.baselines`: NBSVM and logistic regression on uni+bigrams,
one-vs-rest beyond two classes, settings chosen on validation) on the very splits of every seed and
fold the sweeps used (each job's `data.*` overrides and seed), and prints one table: mean ± sample sd of the test accuracy (%) over the
seeds (MR: folds × seeds) per dataset and model, with the count, beside the published numbers.
Unfinished and failed jobs are counted and left out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package, whatever is installed
from rnn_sentiment import baselines  # noqa: E402
from rnn_sentiment.core.configs import CONFIG_PATH  # noqa: E402
from rnn_sentiment.core.errors import UserInputError, exit_on_user_error  # noqa: E402
from rnn_sentiment.core.files import write_text_atomically  # noqa: E402
from rnn_sentiment.core.sweep import collect_runs  # noqa: E402

DATASETS = {"mr": "MR", "sst5": "SST-1", "sst2": "SST-2", "trec": "TREC"}
# Published test accuracies (%), from the README of the shared sentences data: Kim 2014's CNNs,
# Wang & Manning 2012's NBSVM as Kim quotes it, Tai et al. 2015 (GloVe, trained on phrase labels too).
PUBLISHED = {
    "NBSVM (Wang & Manning 2012)": {"MR": 79.4},
    "CNN-rand (Kim 2014)": {"MR": 76.1, "SST-1": 45.0, "SST-2": 82.7, "TREC": 91.2},
    "CNN-non-static, word2vec (Kim 2014)": {"MR": 81.5, "SST-1": 48.0, "SST-2": 87.2, "TREC": 93.6},
    "LSTM, GloVe, phrases (Tai et al. 2015)": {"SST-1": 46.4, "SST-2": 84.9},
    "BiLSTM, GloVe, phrases (Tai et al. 2015)": {"SST-1": 49.1, "SST-2": 87.5},
}
BASELINES = {"nbsvm": "NBSVM uni+bigrams, measured here", "logistic_regression": "LogReg uni+bigrams, measured here"}


def model_name(config) -> str:
    """Elman, LSTM, Conv-LSTM or BiLSTM (GRU cells as GRU), `+ IMDB LM` with a pretrained encoder."""
    net = config.model.net
    name = {"rnn": "Elman", "lstm": "LSTM", "gru": "GRU"}[net.cell]
    if net.conv_channels:
        name = f"Conv-{name}"
    if net.bidirectional:
        name = f"Bi{name}"
    return f"{name} + IMDB LM" if config.model.get("encoder_ckpt") else name


def data_overrides(job: Path, config) -> tuple[str, ...]:
    """The job's `data.*` overrides and seed, with `data.path` absolute: what gives the baselines
    the very split the job trained on."""
    cwd = Path(OmegaConf.load(job / ".hydra" / "hydra.yaml").hydra.runtime.cwd)
    given = [o.lstrip("+") for o in OmegaConf.load(job / ".hydra" / "overrides.yaml")]
    kept = [o for o in given if o.startswith("data.") and not o.startswith("data.path=")]
    return (f"data.path={(cwd / config.data.path).resolve()}", *kept, f"seed={config.seed}")


def read_sweeps(sweep_dirs: list[Path]) -> tuple[dict, list[tuple[str, ...]], list[str]]:
    """{(dataset, model): [test accuracy %, …]}, the data overrides of every finished job (for the
    baselines), and a note per job left out."""
    accuracies, splits, notes = defaultdict(list), [], []
    for sweep_dir in sweep_dirs:
        if not sweep_dir.is_dir():
            raise UserInputError(f"{sweep_dir}: no such sweep directory (hydra.sweep.dir of a multirun)")
        for row in collect_runs(sweep_dir):
            job = sweep_dir / row["run"]
            if row["status"] != "finished" or "test/acc" not in row:
                notes.append(f"{job}: {row['status'] if row['status'] != 'finished' else 'not tested'}, left out")
                continue
            config = OmegaConf.load(job / ".hydra" / "config.yaml")
            folder = Path(config.data.path).name if config.data.path else None
            if folder not in DATASETS:
                notes.append(f"{job}: data.path={config.data.path} is none of {', '.join(DATASETS)}, left out")
                continue
            accuracies[DATASETS[folder], model_name(config)].append(100 * row["test/acc"])
            splits.append(data_overrides(job, config))
    return accuracies, splits, notes


def measure_baselines(splits: list[tuple[str, ...]]) -> dict:
    """{(dataset, baseline): [test accuracy %, …]} over the distinct splits the sweeps trained on."""
    accuracies = defaultdict(list)
    with initialize_config_dir(CONFIG_PATH, version_base="1.3"):
        for overrides in sorted(set(splits)):
            results = baselines.measure(compose("baselines", overrides=[*overrides, "paths.output_dir=unused"]))
            dataset = DATASETS[Path(overrides[0].partition("=")[2]).name]
            for model, label in BASELINES.items():
                accuracies[dataset, label].append(100 * results[model]["test/acc"])
            print(f"baselines on {' '.join(overrides)}: "
                  + ", ".join(f"{m} {100 * results[m]['test/acc']:.2f}%" for m in BASELINES), file=sys.stderr)
    return accuracies


def cell(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.1f} (1)"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f} ({len(values)})"


def table(measured: dict) -> str:
    """Markdown: a row per model or baseline (measured: mean ± sd (n)), then the published rows."""
    datasets = list(DATASETS.values())
    lines = ["| model | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for name in dict.fromkeys(model for _, model in sorted(measured)):
        lines.append(f"| {name} | " + " | ".join(cell(measured.get((d, name), [])) for d in datasets) + " |")
    for name, numbers in PUBLISHED.items():
        lines.append(f"| *{name}* | " + " | ".join(f"*{numbers[d]}*" if d in numbers else "–" for d in datasets) + " |")
    return "\n".join(lines) + "\n"


@exit_on_user_error
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", nargs="+", type=Path, help="multirun directories of experiment=sentences")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--no-baselines", action="store_true", help="leave the linear baselines out")
    args = parser.parse_args(argv)
    accuracies, splits, notes = read_sweeps(args.sweeps)
    if not accuracies:
        raise UserInputError(f"no finished job of the sentence datasets in {', '.join(map(str, args.sweeps))}")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not args.no_baselines:
        accuracies |= measure_baselines(splits)
    text = "Test accuracy (%), mean ± sd (runs)\n\n" + table(accuracies)
    print(text)
    if args.markdown:
        write_text_atomically(args.markdown, text)


if __name__ == "__main__":
    main()
