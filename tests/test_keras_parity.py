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
MODELS = ["elman", "lstm", "conv_lstm"]
# one Python for the three (TensorFlow takes seconds to import): each model's report after a marker line
SCRIPT = f"""
import sys
sys.path.insert(0, {str(ROOT / "benchmarks")!r})
import keras_parity
for model in {MODELS!r}:
    print("=== " + model, flush=True)
    print("exit", keras_parity.main(["--model", model, "--steps", "{STEPS}", "--batch-size", "16"]), flush=True)
"""


def test_the_three_networks_step_as_keras_does():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    reports = {part.split("\n", 1)[0]: part for part in result.stdout.split("=== ")[1:]}
    assert list(reports) == MODELS
    for model, report in reports.items():
        assert report.rstrip().endswith("exit 0"), report[-4000:]
        steps = [line.split()[0] for line in report.splitlines() if line[:4].strip().isdigit()]
        assert steps == [str(step) for step in range(1, STEPS + 1)], report
        assert "parity: every difference within its tolerance" in report, report[-4000:]
