"""SIGKILL at 30 random moments (seeded): every killed run resumed with `ckpt_path=last` ends with the
metrics of an uninterrupted one (`tests/kill_at_random.py` forks each try from a warm Python); and the
two states those kills found a resume mishandled, set up on purpose."""

import json
import subprocess
import sys

import pytest

from conftest import QUICK, ROOT, compose_config
from rnn_sentiment.core.training import train
from test_reliability import metrics_of

pytestmark = pytest.mark.slow

KILLS = 30


def test_kills_at_random_moments_all_resume_to_the_uninterrupted_metrics(tmp_path, imdb_dir):
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "kill_at_random.py"), str(imdb_dir), str(tmp_path / "runs"), str(KILLS),
         "20261207", *QUICK, "checkpoint_every_n_steps=3"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    straight, *chains = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(chain["kills"] for chain in chains) >= KILLS
    expected = metrics_of(tmp_path / "runs" / "straight")
    for chain in chains:
        assert metrics_of(tmp_path / "runs" / chain["run"].rsplit("/", 1)[1]) == expected, chain


def test_a_resume_from_the_newest_periodic_checkpoint_after_an_epoch_loses_no_epoch(tmp_path, imdb_dir):
    """As a kill in the first validation leaves it (18 batches an epoch, a checkpoint every 3 steps)."""
    once = [option for option in QUICK if not option.startswith("trainer.max_epochs")]
    train(compose_config("train", tmp_path, [f"data.path={imdb_dir}", *once, "trainer.max_epochs=1",
                                             "checkpoint_every_n_steps=3"]))
    checkpoints = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("step*")) == ["step0000015.ckpt"]  # none at the last batch
    for written_after_validation in [checkpoints / "last.ckpt", *checkpoints.glob("best-*")]:
        written_after_validation.unlink()
    train(compose_config("train", tmp_path, [f"data.path={imdb_dir}", *once, "trainer.max_epochs=2",
                                             "checkpoint_every_n_steps=3", "ckpt_path=last"]))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["global_step"] == 36


def test_a_run_resumed_after_its_last_validation_still_reports_it(tmp_path, imdb_dir):
    """As a kill in the test loop leaves it: the resumed run validates no more, yet reports what it measured."""
    options = [f"data.path={imdb_dir}", *QUICK, "checkpoint_every_n_steps=3"]
    train(compose_config("train", tmp_path, options))
    metrics = tmp_path / "run" / "metrics.json"
    first = json.loads(metrics.read_text())
    metrics.unlink()
    train(compose_config("train", tmp_path, [*options, "ckpt_path=last"]))
    validation = {key: value for key, value in first.items() if key.startswith("val/")}
    again = json.loads(metrics.read_text())
    assert validation and {key: again.get(key) for key in validation} == validation
