"""Hydra callback that writes one summary table (CSV and Markdown) of a multirun's runs."""

import csv
import json
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


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
    with open(sweep_dir / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

    def cell(value):
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    (sweep_dir / "summary.md").write_text("\n".join(lines) + "\n")
    return sweep_dir / "summary.md"


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        summary = write_summary(Path(config.hydra.sweep.dir))
        if summary is not None:
            print(f"sweep summary: {summary}")
            print(summary.read_text())
