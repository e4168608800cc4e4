"""Multirun sweeps: one summary table (CSV and Markdown) of their jobs, failed ones included, with
the mean ± sd over seeds and cross-validation folds, and sweeps that continue in their directory
(new jobs numbered after the old, an Optuna study resumed)."""

import csv
import io
import json
import logging
import statistics
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, read_write

from rnn_sentiment.core.errors import FAILURE_FILE
from rnn_sentiment.core.files import write_text_atomically

log = logging.getLogger(__name__)

FIRST_JOB_FILE = ".first_job_number"
REPEATS = ("seed=", "data.fold=")  # overrides that repeat a setting on other draws or data, not change it


def job_dir_name(sweep_dir: str, job_num: int) -> str:
    """`hydra.sweep.subdir`: Hydra's job number, after the jobs an earlier sweep left in the same directory."""
    first = Path(sweep_dir) / FIRST_JOB_FILE
    return str(int(job_num) + (int(first.read_text()) if first.exists() else 0))


OmegaConf.register_new_resolver("sweep_job_dir", job_dir_name, replace=True)


def _run_row(run_dir: Path) -> dict:
    """finished (metrics.json), failed (error.json), or unfinished: killed, or still running."""
    metrics_file, failure_file = run_dir / "metrics.json", run_dir / FAILURE_FILE
    written = [f for f in (metrics_file, failure_file) if f.exists()]
    newest = max(written, key=lambda f: f.stat().st_mtime_ns) if written else None
    if newest == metrics_file:
        metrics = json.loads(metrics_file.read_text())
        row = {"run": run_dir.name, "status": "finished", "overrides": " ".join(metrics.pop("overrides", []))}
        row.update({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        return row
    if newest == failure_file:
        failure = json.loads(failure_file.read_text())
        return {"run": run_dir.name, "status": "failed", "overrides": " ".join(failure["overrides"]),
                "error": failure["error"]}
    overrides = OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")
    return {"run": run_dir.name, "status": "unfinished", "overrides": " ".join(overrides)}


def collect_runs(sweep_dir: Path) -> list[dict]:
    """One summary row per job directory of `sweep_dir`, in job order."""
    runs = [p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra" / "overrides.yaml").exists()]
    return [_run_row(run) for run in sorted(runs, key=lambda p: (len(p.name), p.name))]


def write_summary(sweep_dir: Path) -> Path | None:
    """`summary.csv` and `summary.md` of every job in `sweep_dir`; the Markdown file's path, None
    when there are no jobs yet."""
    rows = collect_runs(sweep_dir)
    if not rows:
        return None
    columns = list(dict.fromkeys(key for row in rows for key in row if key != "error"))
    if any("error" in row for row in rows):
        columns.append("error")
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomically(sweep_dir / "summary.csv", table.getvalue())

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    write_text_atomically(sweep_dir / "summary.md", "\n".join(lines + repeats_table(rows)) + "\n")
    return sweep_dir / "summary.md"


def _cell(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value).replace("|", "\\|")


def _is_headline(metric: str) -> bool:
    """`test/acc`, `best/val/acc`: not a class's own metric (`test/f1/neutral`) nor a training one."""
    parts = metric.split("/")
    return (parts[0] == "test" and len(parts) == 2) or (parts[0] == "best" and len(parts) == 3)


def repeats_table(rows: list[dict]) -> list[str]:
    """Markdown lines: the finished runs grouped by their overrides less `seed=` and `data.fold=`, and
    each test and best-validation metric's mean ± sample sd over the group; none when no setting ran
    more than once."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row["status"] == "finished":
            setting = " ".join(o for o in row["overrides"].split() if not o.startswith(REPEATS))
            groups.setdefault(setting, []).append(row)
    if all(len(group) < 2 for group in groups.values()):
        return []
    metrics = list(dict.fromkeys(key for row in rows for key in row if _is_headline(key) and isinstance(row[key], float)))

    def spread(values: list[float]) -> str:
        return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}" if len(values) > 1 else f"{values[0]:.4f}"

    lines = ["", "Mean ± sd over seeds and folds:", "", "| setting | runs | " + " | ".join(metrics) + " |",
             "|" + "---|" * (len(metrics) + 2)]
    for setting, group in groups.items():
        cells = [spread([row[m] for row in group if m in row]) if any(m in row for row in group) else "" for m in metrics]
        lines.append(f"| {_cell(setting or '(defaults)')} | {len(group)} | " + " | ".join(cells) + " |")
    return lines


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


def _stored_trials(sweeper: DictConfig) -> list:
    """The trials of the sweeper's stored Optuna study; none when it does not exist yet."""
    import optuna

    try:
        return optuna.load_study(study_name=sweeper.study_name, storage=sweeper.storage).trials
    except KeyError:  # no such study
        return []


class ContinueSweep(Callback):
    """A sweep started again in its directory continues there instead of overwriting it.

    New jobs are numbered after the job directories already there (`hydra.sweep.subdir`). An Optuna
    search with a `storage` resumes its study: `n_trials` counts the trials the study has finished
    already, so the same command after a kill runs only the missing ones, and the sampler's seed moves
    on by the trials stored, so the resumed search does not draw the first trials' values again."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)  # also where an sqlite study is stored
        taken = [int(p.name) for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()]
        write_text_atomically(sweep_dir / FIRST_JOB_FILE, str(max(taken, default=-1) + 1))

        sweeper = config.hydra.sweeper
        if "optuna" not in sweeper.get("_target_", "") or not sweeper.get("storage"):
            return
        trials = _stored_trials(sweeper)
        if not trials:
            return
        finished = sum(trial.state.is_finished() for trial in trials)
        log.info(f"Resuming study {sweeper.study_name}: {finished} of n_trials={sweeper.n_trials} trials finished")
        with read_write(sweeper):
            sweeper.n_trials = max(0, sweeper.n_trials - finished)
            if sweeper.sampler.get("seed") is not None:
                sweeper.sampler.seed += len(trials)
