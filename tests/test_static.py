"""Names the code uses are defined: pyflakes over every Python file of the repository. A module that
a refactor left pointing at a moved function fails here, not in a user's benchmark run hours later
(benchmarks/throughput.py lost `reads_padding_once` so, and only its `--help` ran in the tests)."""

import subprocess
import sys

from conftest import ROOT


def test_no_undefined_names_anywhere():
    folders = [str(ROOT / name) for name in ("rnn_sentiment", "lm", "benchmarks", "tests", "conf")]
    found = subprocess.run([sys.executable, "-m", "pyflakes", *folders], capture_output=True, text=True)
    undefined = [line for line in found.stdout.splitlines() if "undefined name" in line]
    assert not undefined, "\n".join(undefined)
