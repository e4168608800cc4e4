"""SIGKILL at 30 random moments (seeded): every killed run resumed with `ckpt_path=last` ends with the
metrics of an uninterrupted one (`tests/kill_at_random.py` forks each try from a warm Python)."""

import json
import subprocess
import sys

import pytest

from conftest import QUICK, ROOT
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
