import json
import signal

import pytest

from conftest import QUICK, QUICK_TRAINING, run_module

pytestmark = pytest.mark.slow  # every test trains in subprocesses

TINY = [*QUICK, "checkpoint_every_n_steps=3"]


def train_run(run_dir, imdb_dir, *extra, module="rnn_sentiment.train"):
    return run_module(module, f"data.path={imdb_dir}", f"hydra.run.dir={run_dir}", *TINY, *extra)


def metrics_of(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k.startswith(("val/", "test/", "best/")) or k == "global_step"}


# a killed classifier: tests/test_random_kills.py (30 kills at random moments, each resumed)


def test_killed_bptt_language_model_resumes_exactly(tmp_path, moby_file):
    options = [f"data.path={moby_file}", "data.seq_len=5", "data.stateful=true", "data.batch_size=4",
               "data.eval_batch_size=2", "model.net.embed_dim=16", "model.net.hidden_size=16", *QUICK_TRAINING,
               "checkpoint_every_n_steps=20", "~logger"]
    straight = run_module("lm.train", f"hydra.run.dir={tmp_path / 'straight'}", *options)
    assert straight.returncode == 0, straight.stderr
    killed = run_module("lm.train", f"hydra.run.dir={tmp_path / 'killed'}", *options,
                        "+callbacks.kill._target_=helpers.KillAtStep", "+callbacks.kill.step=250")
    assert killed.returncode == -signal.SIGKILL
    resumed = run_module("lm.train", f"hydra.run.dir={tmp_path / 'killed'}", *options, "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr
    assert metrics_of(tmp_path / "killed") == metrics_of(tmp_path / "straight")


def test_same_seed_same_metrics(tmp_path, imdb_dir):
    for name in ("a", "b"):
        assert train_run(tmp_path / name, imdb_dir, "trainer.max_epochs=1").returncode == 0
    assert metrics_of(tmp_path / "a") == metrics_of(tmp_path / "b")
    assert (tmp_path / "a" / ".hydra" / "config.yaml").exists()
    info = json.loads((tmp_path / "a" / "run_info.json").read_text())
    assert info["package_version"] == "0.1.0" and len(info["data"]["data"]) == 16  # the data fingerprint


def test_a_checkout_run_without_installing_records_that_it_is_not_installed(monkeypatch):
    """PYTHONPATH=<checkout> python -m lm.train, as on a machine without the package installed, once crashed
    reading the package's metadata."""
    from importlib.metadata import PackageNotFoundError

    from rnn_sentiment.core import training

    def not_installed(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(training, "version", not_installed)
    assert training._package_version() == "not installed"


def test_non_finite_loss_stops_with_the_step_and_keeps_checkpoints(tmp_path, imdb_dir):
    result = train_run(tmp_path / "nan", imdb_dir, "+callbacks.poison._target_=helpers.PoisonLossAtStep",
                       "+callbacks.poison.step=7")
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1].startswith("error: training loss is nan at global step 7 (epoch 0)")
    assert [p.name for p in (tmp_path / "nan" / "checkpoints").iterdir()] == ["step0000006.ckpt"]  # the last good step
    assert not (tmp_path / "nan" / "metrics.json").exists()
