"""Sweeps that survive a failing job, and Optuna searches that resume from their stored study."""

import csv
import json
from pathlib import Path

import optuna
import pytest

from conftest import run_module

pytestmark = pytest.mark.slow  # every test runs a sweep

TINY = ["trainer.max_epochs=1", "trainer.enable_progress_bar=false", "data.batch_size=16", "data.max_len=40",
        "model.net.hidden_size=16", "~callbacks.model_summary", "~logger"]


def summary_rows(sweep: Path) -> list[dict]:
    return list(csv.DictReader(open(sweep / "summary.csv")))


def test_a_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path, imdb_dir):
    sweep = tmp_path / "sweep"
    result = run_module("rnn_sentiment.train", "-m", f"data.path={imdb_dir}", f"hydra.sweep.dir={sweep}", *TINY,
                        "+callbacks.poison._target_=helpers.PoisonLossAtStep", "+callbacks.poison.step=1000,2,1000")
    # the sweep reports its failed job once every job has run
    assert result.returncode == 1
    assert "error: job 1 failed: training loss is nan at global step 2" in result.stderr
    rows = summary_rows(sweep)
    assert [r["status"] for r in rows] == ["finished", "failed", "finished"]
    assert rows[1]["error"].startswith("training loss is nan at global step 2 (epoch 0); lower model.lr")
    assert "+callbacks.poison.step=2" in rows[1]["overrides"] and rows[1]["test/acc"] == ""
    assert rows[2]["error"] == ""
    for row in (rows[0], rows[2]):
        metrics = json.loads((sweep / row["run"] / "metrics.json").read_text())
        assert float(row["test/acc"]) == pytest.approx(metrics["test/acc"], abs=1e-12)
    assert json.loads((sweep / "1" / "error.json").read_text())["type"] == "FloatingPointError"
    assert not (sweep / "1" / "metrics.json").exists()
    assert "| 1 | failed |" in (sweep / "summary.md").read_text()


def test_a_single_run_still_exits_with_its_own_status(tmp_path, imdb_dir):
    result = run_module("rnn_sentiment.train", f"data.path={imdb_dir}", f"hydra.run.dir={tmp_path / 'run'}", *TINY,
                        "+callbacks.poison._target_=helpers.PoisonLossAtStep", "+callbacks.poison.step=2")
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1].startswith("error: training loss is nan at global step 2")
    assert not (tmp_path / "run" / "error.json").exists()


def stored_trials(sweep: Path) -> list:
    return optuna.load_study(study_name="imdb", storage=f"sqlite:///{sweep / 'optuna.db'}").trials


def test_optuna_search_survives_a_failed_trial_and_resumes_its_study(tmp_path, imdb_dir):
    outputs = tmp_path / "outputs"
    search = ["hparams_search=imdb_optuna", f"data.path={imdb_dir}", f"paths.log_dir={outputs}", *TINY,
              "+callbacks.poison._target_=helpers.PoisonLossInJob", "+callbacks.poison.step=2",
              "+callbacks.poison.job=1"]
    first = run_module("rnn_sentiment.train", *search, "hydra.sweeper.n_trials=3")
    assert first.returncode == 0, first.stderr
    sweep = outputs / "sentiment" / "search" / "imdb"  # no date in the path: the command finds it again
    assert [r["status"] for r in summary_rows(sweep)] == ["finished", "failed", "finished"]
    assert [t.state.name for t in stored_trials(sweep)] == ["COMPLETE", "FAIL", "COMPLETE"]
    finished = {run: (sweep / run / "metrics.json").read_text() for run in ("0", "2")}

    # the same command with a larger budget adds trials to the stored study
    second = run_module("rnn_sentiment.train", *search, "hydra.sweeper.n_trials=4")
    assert second.returncode == 0, second.stderr
    trials = stored_trials(sweep)
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[3].params != trials[0].params  # the sampler does not start its sequence over
    assert [r["status"] for r in summary_rows(sweep)] == ["finished", "failed", "finished", "finished"]
    assert {run: (sweep / run / "metrics.json").read_text() for run in ("0", "2")} == finished
    assert "model.lr=" in summary_rows(sweep)[3]["overrides"]


def test_a_killed_search_resumes_with_the_same_command(tmp_path, imdb_dir):
    sweep = tmp_path / "search"
    search = ["hparams_search=imdb_optuna", "hydra.sweeper.n_trials=3", f"data.path={imdb_dir}",
              f"hydra.sweep.dir={sweep}", *TINY]
    killed = run_module("rnn_sentiment.train", *search, "+callbacks.kill._target_=helpers.KillInJob",
                        "+callbacks.kill.step=3", "+callbacks.kill.job=1")
    assert killed.returncode == -9  # SIGKILL in the second trial: the whole search process is gone
    assert [t.state.name for t in stored_trials(sweep)] == ["COMPLETE", "RUNNING"]

    resumed = run_module("rnn_sentiment.train", *search)
    assert resumed.returncode == 0, resumed.stderr
    # the killed trial stays as it was; two more complete the three trials asked for
    assert [t.state.name for t in stored_trials(sweep)] == ["COMPLETE", "RUNNING", "COMPLETE", "COMPLETE"]
    assert [r["status"] for r in summary_rows(sweep)] == ["finished", "unfinished", "finished", "finished"]
    assert [r["run"] for r in summary_rows(sweep)] == ["0", "1", "2", "3"]


def test_a_killed_plain_multirun_keeps_the_rows_of_its_finished_jobs_and_continues_after_them(tmp_path, imdb_dir):
    sweep = tmp_path / "sweep"
    command = ["-m", "model=elman,lstm,conv_lstm", f"data.path={imdb_dir}", f"hydra.sweep.dir={sweep}", *TINY]
    killed = run_module("rnn_sentiment.train", *command, "+callbacks.kill._target_=helpers.KillInJob",
                        "+callbacks.kill.step=3", "+callbacks.kill.job=1")
    assert killed.returncode == -9  # SIGKILL in the second job: the sweep process is gone
    rows = summary_rows(sweep)
    assert [(r["run"], r["status"]) for r in rows] == [("0", "finished")]  # written when job 0 ended
    finished = json.loads((sweep / "0" / "metrics.json").read_text())
    assert float(rows[0]["test/acc"]) == pytest.approx(finished["test/acc"], abs=1e-12)

    again = run_module("rnn_sentiment.train", *command)
    assert again.returncode == 0, again.stderr
    rows = summary_rows(sweep)
    assert [(r["run"], r["status"], r["overrides"].split()[0]) for r in rows] == [
        ("0", "finished", "model=elman"), ("1", "unfinished", "model=lstm"), ("2", "finished", "model=elman"),
        ("3", "finished", "model=lstm"), ("4", "finished", "model=conv_lstm")]
    assert float(rows[0]["test/acc"]) == pytest.approx(finished["test/acc"], abs=1e-12)  # the old row kept as it was
    for row in rows[2:]:
        metrics = json.loads((sweep / row["run"] / "metrics.json").read_text())
        assert float(row["test/acc"]) == pytest.approx(metrics["test/acc"], abs=1e-12)
