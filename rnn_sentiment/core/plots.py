"""PNG figures of finished runs, read from what they wrote: learning curves from a run's TensorBoard
logs, and a bar chart comparing the runs of a sweep from their `metrics.json`."""

import json
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader  # noqa: E402

from rnn_sentiment.core.errors import UserInputError  # noqa: E402
from rnn_sentiment.core.files import open_atomically  # noqa: E402

CURVES = {  # panel: (train tag, validation tag)
    "loss": ("train/loss", "val/loss"),
    "accuracy": ("train/acc", "val/acc"),
    "perplexity": (None, "val/ppl"),
}


def save_png(figure, path: Path) -> Path:
    """`figure`, laid out, written whole to `path` as a PNG and closed; returns `path`."""
    figure.tight_layout()
    with open_atomically(path, binary=True) as file:
        figure.savefig(file, format="png", dpi=110)
    plt.close(figure)
    return path


def logged_scalars(run_dir: Path) -> dict[str, dict[int, float]]:
    """Every scalar of a run's TensorBoard logs: tag → {global step: value} (a resumed run's later
    value wins)."""
    points = defaultdict(dict)
    for events in sorted(run_dir.glob("tensorboard/events.out.tfevents.*")):
        for event in EventFileLoader(str(events)).Load():
            for value in event.summary.value:
                number = value.tensor.float_val[0] if value.tensor.float_val else value.simple_value
                points[value.tag][event.step] = float(number)
    return points


def steps_per_epoch(scalars: dict[str, dict[int, float]]) -> int | None:
    """Optimizer steps in one epoch, from `epoch` (the epoch index Lightning logs with every
    scalar): the last values of epoch e are logged at step `(e + 1) * steps_per_epoch - 1`. Taken
    from the first epoch logged in full (a later one follows it), so a run resumed into a new
    directory works too; None while no epoch has ended."""
    epochs = scalars.get("epoch", {})
    last_step = {}
    for step, epoch in epochs.items():
        last_step[int(epoch)] = max(step, last_step.get(int(epoch), step))
    ended = [epoch for epoch in sorted(last_step) if any(later > epoch for later in last_step)]
    return (last_step[ended[0]] + 1) // (ended[0] + 1) if ended else None


def plot_run(run_dir: Path) -> Path:
    """`learning_curves.png` in `run_dir`: loss, accuracy and perplexity, train beside validation,
    from the run's TensorBoard logs, against epochs (a validation in mid-epoch, as language models
    run with `val_check_interval`, at its fraction of an epoch; against steps before the first epoch
    ends); a `UserInputError` when it has none."""
    scalars = logged_scalars(run_dir)
    panels = [(name, tags) for name, tags in CURVES.items() if any(t in scalars for t in tags if t)]
    if not panels:
        raise UserInputError(f"run_dir={run_dir}: no TensorBoard scalars found; was it run with logger=tensorboard?")
    per_epoch = steps_per_epoch(scalars)
    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    for axis, (name, (train_tag, val_tag)) in zip(axes[0], panels):
        if train_tag and train_tag not in scalars:
            train_tag = f"{train_tag}_epoch"  # Lightning's name when a value is logged per step and per epoch
        for tag, label in ((train_tag, "train"), (val_tag, "validation")):
            if tag in scalars:
                steps = sorted(scalars[tag])
                # a value logged at the end of epoch e sits at step (e + 1) * per_epoch - 1
                at = [(step + 1) / per_epoch if per_epoch else step for step in steps]
                axis.plot(at, [scalars[tag][step] for step in steps], marker="o", label=label)
        axis.set_xlabel("epoch" if per_epoch else "step")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(run_dir.name)
    return save_png(figure, run_dir / "learning_curves.png")


def short_label(override: str) -> str:
    """`model.lr=0.0013518080333310004` → `lr=0.00135`: sweep labels that fit beside a bar."""
    key, _, value = override.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None and not number.is_integer():
        value = f"{number:.3g}"
    return f"{key.rsplit('.', 1)[-1]}={value}"


def plot_sweep(sweep_dir: Path, runs: list[Path]) -> Path:
    """One row per run, labelled by what differs between runs: the best validation metric (what a
    sweep selects on) beside the test metric."""
    metrics = [json.loads((run / "metrics.json").read_text()) for run in runs]
    shown = [k for k in ("best/val/acc", "test/acc", "best/val/ppl", "test/ppl") if k in metrics[0]]
    if not shown:
        raise UserInputError(f"run_dir={sweep_dir}: the runs' metrics.json hold no test or validation metric")
    overrides = [m.get("overrides", []) for m in metrics]
    shared = set.intersection(*(set(o) for o in overrides))
    labels = [" ".join([run.name, *(short_label(o) for o in run_overrides if o not in shared)])
              for run_overrides, run in zip(overrides, runs)]
    figure, axis = plt.subplots(figsize=(10, 0.5 * len(runs) + 1.5))
    height = 0.8 / len(shown)
    values = [[m.get(key, float("nan")) for m in metrics] for key in shown]
    for offset, (key, column) in enumerate(zip(shown, values)):
        rows = [i - 0.4 + height * (offset + 0.5) for i in range(len(runs))]
        axis.barh(rows, column, height=height, label=key)
        for row, value in zip(rows, column):
            axis.text(value, row, f" {value:.4g}", va="center", fontsize=7)
    flat = [v for column in values for v in column]
    low, high = min(flat), max(flat)
    axis.set_xlim(max(0.0, low - (high - low) * 0.5 - 0.02), high + (high - low) * 0.25 + 0.02)
    axis.set_yticks(range(len(runs)), labels, fontsize=8)
    axis.invert_yaxis()
    axis.legend(loc="lower right", fontsize=8)
    return save_png(figure, sweep_dir / "sweep_comparison.png")
