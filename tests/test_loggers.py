"""The logger and callbacks groups: CSV beside TensorBoard, W&B offline, MLflow local, early stopping, rich."""

import csv
import json
import sqlite3

import pytest

from conftest import QUICK, compose_config, run_module
from rnn_sentiment.core.plots import logged_scalars
from rnn_sentiment.core.training import train
from test_tensorboard import tags_by_plugin

pytestmark = pytest.mark.slow  # every test trains

WITH_LOGGER = [o for o in QUICK if o != "~logger"]


def test_tensorboard_and_csv_together(tmp_path, imdb_dir):
    train(compose_config("train", tmp_path, [f"data.path={imdb_dir}", *WITH_LOGGER, "logger=[csv,tensorboard]"]))
    run = tmp_path / "run"
    rows = list(csv.DictReader(open(run / "csv" / "metrics.csv")))
    val_acc = {int(r["step"]): float(r["val/acc"]) for r in rows if r.get("val/acc")}
    assert len(val_acc) == 2 and val_acc == pytest.approx(logged_scalars(run)["val/acc"], abs=1e-6)  # both loggers
    assert any(r.get("hp_metric") for r in rows) and (run / "csv" / "hparams.yaml").exists()
    tags = tags_by_plugin(run / "tensorboard")  # the TensorBoard extras find their logger second in line
    assert "test/pr_curve" in tags["pr_curves"] and "hp_metric" in tags["scalars"]
    assert "_hparams_/experiment" in tags["hparams"]


def test_csv_alone_skips_the_tensorboard_extras(tmp_path, imdb_dir):
    train(compose_config("train", tmp_path, [f"data.path={imdb_dir}", *WITH_LOGGER, "logger=csv"]))
    run = tmp_path / "run"
    assert (run / "csv" / "metrics.csv").exists() and not (run / "tensorboard").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    (logged,) = [float(r["test/acc"]) for r in csv.DictReader(open(run / "csv" / "metrics.csv")) if r.get("test/acc")]
    assert logged == pytest.approx(metrics["test/acc"], abs=1e-6)


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    """No network, and nothing written outside the test's folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for variable in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(variable, str(home / variable.lower()))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # the config's local store must win
    return home


def test_wandb_offline_writes_its_run_locally(tmp_path, imdb_dir, offline_home):
    result = run_module("rnn_sentiment.train", f"data.path={imdb_dir}", f"hydra.run.dir={tmp_path / 'run'}",
                        *WITH_LOGGER, "logger=wandb", "logger.wandb.offline=true")
    assert result.returncode == 0, result.stderr
    (run_file,) = (tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb")
    records = run_file.read_bytes()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for key in ("val/acc", "test/acc", "hp_metric", "model.lr"):
        assert key.encode() in records
    assert json.dumps(metrics["test/acc"]).encode() in records


def test_mlflow_writes_a_local_store_in_the_run(tmp_path, imdb_dir, offline_home):
    result = run_module("rnn_sentiment.train", f"data.path={imdb_dir}", f"hydra.run.dir={tmp_path / 'run'}",
                        *WITH_LOGGER, "logger=mlflow")
    assert result.returncode == 0, result.stderr
    store = sqlite3.connect(tmp_path / "run" / "mlflow.db")
    latest = dict(store.execute("select key, value from latest_metrics"))
    params = dict(store.execute("select key, value from params"))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert latest["test/acc"] == pytest.approx(metrics["test/acc"]) and "val/acc" in latest
    assert latest["hp_metric"] == pytest.approx(metrics["test/acc"]) and params["model.lr"] == "0.001"


def test_early_stopping_ends_a_run_that_stops_improving(tmp_path, imdb_dir):
    quick = [o for o in QUICK if o != "trainer.max_epochs=2"]
    train(compose_config("train", tmp_path, [f"data.path={imdb_dir}", *quick, "trainer.max_epochs=6",
                                             "callbacks=[default,early_stopping]",
                                             "callbacks.early_stopping.patience=0", "model.lr=0"]))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 2  # the first epoch sets the best value, the second does not beat it


def test_rich_progress_bar_composes_and_runs(tmp_path, imdb_dir):
    result = run_module("rnn_sentiment.train", f"data.path={imdb_dir}", f"hydra.run.dir={tmp_path / 'run'}",
                        *[o for o in QUICK if o != "trainer.enable_progress_bar=false"],
                        "callbacks=[default,rich_progress_bar]")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "metrics.json").exists()
