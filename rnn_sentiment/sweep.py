"""Hydra callback that writes one summary table (CSV and Markdown) of a multirun's runs."""

import csv
import io
import json
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from rnn_sentiment.files import write_text_atomically


def collect_runs(sweep_dir: Path) -> list[dict]:
    rows = []
    for metrics_file in sorted(sweep_dir.glob("*/metrics.json"), key=lambda p: (len(p.parent.name), p.parent.name)):
        metrics = json.loads(metrics_file.read_text())
        row = {"run": metrics_file.parent.name, "overrides": " ".join(metrics.pop("overrides", []))}
        row.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        rows.append(row)
    return rows


def write_summary(sweep_dir: Path) -> Path | None:
    rows = collect_runs(sweep_dir)
    if not rows:
        return None
    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomically(sweep_dir / "summary.csv", table.getvalue())

    def cell(value):
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    write_text_atomically(sweep_dir / "summary.md", "\n".join(lines) + "\n")
    return sweep_dir / "summary.md"


class SweepSummary(Callback):
    """Rewrites the table after every job, so a sweep stopped half-way still has one, and prints it at the end."""

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        if config.hydra.mode == RunMode.MULTIRUN:
            write_summary(Path(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        summary = write_summary(Path(config.hydra.sweep.dir))
        if summary is not None:
            print(f"sweep summary: {summary}")
            print(summary.read_text())
