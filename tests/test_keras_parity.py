"""The tutorial's three networks against Keras itself, a few Adam steps each, in CI: the harness of
`benchmarks/keras_parity.py` (initialisation, saturated losses, then per step outputs, loss, every
gradient and every weight after Adam, each within its tolerance beside both sides' float32 noise as
their float64 twins measure it). The benchmark runs it for longer; this keeps every change honest."""

import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow  # starts TensorFlow, builds each network twice per framework

STEPS = 4


@pytest.mark.parametrize("model", ["elman", "lstm", "conv_lstm"])
def test_the_package_steps_as_keras_does(model):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "keras_parity.py"), "--model", model, "--steps", str(STEPS),
         "--batch-size", "16"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    steps = [line.split()[0] for line in result.stdout.splitlines() if line[:4].strip().isdigit()]
    assert steps == [str(step) for step in range(1, STEPS + 1)], result.stdout
    assert "parity: every difference within its tolerance" in result.stdout
