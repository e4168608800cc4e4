"""Hydra composition, multirun sweeps, the Optuna sweeper and DDP on the CPU."""

import csv
import json
from pathlib import Path

import pytest

from conftest import ROOT, compose_config, run_here, run_module
from rnn_sentiment.core.plots import plot_run, plot_sweep, short_label

TINY = ["trainer.max_epochs=1", "trainer.enable_progress_bar=false", "data.batch_size=16", "data.max_len=40",
        "model.net.hidden_size=16", "~callbacks.model_summary"]


@pytest.mark.parametrize("preset", sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml")))
def test_every_experiment_preset_composes(tmp_path, preset):
    primary = "lm" if preset.startswith("lm") else "train"
    cfg = compose_config(primary, tmp_path, [f"experiment={preset}"])
    assert cfg.trainer.max_epochs >= 1 and cfg.model._target_ and cfg.data._target_


@pytest.mark.slow
def test_cfg_job_and_help_show_the_composed_config():
    job = run_here("rnn_sentiment.train", "experiment=tutorial", "model=conv_lstm", "--cfg", "job")
    assert job.returncode == 0 and "conv_channels: 32" in job.stdout and "batching: fixed" in job.stdout
    help_text = run_here("lm.train", "--help").stdout
    for group in ("model:", "data:", "trainer:", "experiment:", "hparams_search:", "ddp_cpu", "lm_tuned"):
        assert group in help_text


@pytest.mark.slow
def test_multirun_writes_one_run_each_and_a_summary(tmp_path, imdb_dir):
    sweep = tmp_path / "sweep"
    result = run_module("rnn_sentiment.train", "-m", "data.batching=fixed,bucket", f"data.path={imdb_dir}",
                        f"hydra.sweep.dir={sweep}", *TINY)
    assert result.returncode == 0, result.stderr
    for run in ("0", "1"):
        assert (sweep / run / "metrics.json").exists()
        assert (sweep / run / "checkpoints" / "last.ckpt").exists()
        assert list((sweep / run / "tensorboard").glob("events.out.tfevents.*"))
    rows = list(csv.DictReader(open(sweep / "summary.csv")))
    assert [r["overrides"].split()[0] for r in rows] == ["data.batching=fixed", "data.batching=bucket"]
    for row in rows:  # each row holds its own run's final metrics
        metrics = json.loads((sweep / row["run"] / "metrics.json").read_text())
        assert float(row["test/acc"]) == pytest.approx(metrics["test/acc"], abs=1e-12)
        assert metrics["overrides"][0] == row["overrides"].split()[0]
    assert (sweep / "summary.md").read_text().count("\n") == 4
    assert plot_sweep(sweep, [sweep / "0", sweep / "1"]).exists()
    assert plot_run(sweep / "1").name == "learning_curves.png"


@pytest.mark.parametrize("override, label", [
    ("model.lr=0.0013518080333310004", "lr=0.00135"), ("model=lstm", "model=lstm"),
    ("data.num_words=20000", "num_words=20000"), ("model.net.bidirectional=True", "bidirectional=True"),
])
def test_sweep_chart_labels_are_short(override, label):
    assert short_label(override) == label


@pytest.mark.slow
def test_optuna_sweep_runs_two_trials(tmp_path, imdb_dir):
    sweep = tmp_path / "optuna"
    result = run_module("rnn_sentiment.train", "hparams_search=imdb_optuna", "hydra.sweeper.n_trials=2",
                        f"data.path={imdb_dir}", f"hydra.sweep.dir={sweep}", *TINY)
    assert result.returncode == 0, result.stderr
    assert (sweep / "optimization_results.yaml").exists()
    assert len(list(csv.DictReader(open(sweep / "summary.csv")))) == 2


@pytest.mark.slow
def test_ddp_on_the_cpu_leaves_one_run(tmp_path, imdb_dir):
    outputs = tmp_path / "outputs"
    ranks = tmp_path / "ranks"
    result = run_module("rnn_sentiment.train", "trainer=ddp_cpu", f"data.path={imdb_dir}",
                        f"paths.log_dir={outputs}", *TINY, "+callbacks.ranks._target_=helpers.RecordRank",
                        f"+callbacks.ranks.folder={ranks}", timeout=400)
    assert result.returncode == 0, result.stderr
    assert "terminate called" not in result.stderr  # no rank aborted at exit with its process group open
    runs = [p.parent for p in outputs.rglob(".hydra")]
    assert len(runs) == 1, runs
    run = runs[0]
    assert len(list(outputs.rglob("metrics.json"))) == 1
    checkpoints = sorted(p.name for p in Path(run, "checkpoints").iterdir())
    assert checkpoints[-1] == "last.ckpt" and len(checkpoints) == 2
    trained = sorted(p.name.rsplit("-pid", 1) for p in ranks.iterdir())  # two processes, one per rank
    assert [rank for rank, _ in trained] == ["rank0-of-2", "rank1-of-2"] and trained[0][1] != trained[1][1]


@pytest.mark.slow
def test_ddp_in_a_multirun_runs_each_job_once_in_its_own_directory(tmp_path, imdb_dir):
    outputs, sweep = tmp_path / "outputs", tmp_path / "sweep"
    result = run_module("rnn_sentiment.train", "-m", "trainer=ddp_cpu", "data.batching=fixed,bucket",
                        f"data.path={imdb_dir}", f"paths.log_dir={outputs}", f"hydra.sweep.dir={sweep}", *TINY,
                        timeout=600)
    assert result.returncode == 0, result.stderr
    assert "terminate called" not in result.stderr
    assert not outputs.exists()  # no rank started a run of its own
    assert sorted(p.parent.name for p in sweep.rglob("metrics.json")) == ["0", "1"]
    rows = list(csv.DictReader(open(sweep / "summary.csv")))
    assert [r["overrides"].split()[1] for r in rows] == ["data.batching=fixed", "data.batching=bucket"]
    for run in ("0", "1"):
        assert sorted(p.name for p in (sweep / run / "checkpoints").iterdir())[-1] == "last.ckpt"
