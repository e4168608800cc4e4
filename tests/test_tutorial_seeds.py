"""benchmarks/tutorial_seeds.py: Keras result lines and the package's sweeps, tabulated over seeds."""

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import QUICK, ROOT, compose_config, run_module

SCRIPT = ROOT / "benchmarks" / "tutorial_seeds.py"
spec = importlib.util.spec_from_file_location("tutorial_seeds", SCRIPT)
tutorial_seeds = sys.modules["tutorial_seeds"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tutorial_seeds)
Result = tutorial_seeds.Result


def keras_lines(path, model: str, accs: list[float]) -> None:
    with path.open("a") as file:
        for seed, acc in enumerate(accs):
            file.write(json.dumps({"framework": "keras", "model": model, "seed": seed, "batching": "fixed",
                                   "test_acc": acc, "seconds": 1.0}) + "\n")


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_means_sds_differences_and_verdicts():
    keras = [0.70, 0.80, 0.75]  # 75.0 ± 5.0
    fixed = [0.60, 0.62, 0.64]  # 62.0 ± 2.0: 13.0 below, SE √(25/3 + 4/3) = 3.11 → below
    grouped = [0.72, 0.74, 0.70]  # 72.0 ± 2.0: 3.0 below < 2 SE → matches
    results = [Result("lstm", "Keras", s, a) for s, a in enumerate(keras)]
    results += [Result("lstm", "fixed", s, a) for s, a in enumerate(fixed)]
    results += [Result("lstm", "fixed, grouped", s, a) for s, a in enumerate(grouped)]
    results += [Result("lstm", "bucket", 0, 0.9)]
    lines = tutorial_seeds.tables(results).splitlines()
    assert lines[0] == ("| model | Keras | `fixed` | Δ ± SE | `fixed, grouped` | Δ ± SE | `bucket` | Δ ± SE |")
    assert lines[2] == ("| LSTM | 75.0 ± 5.0 | 62.0 ± 2.0 | -13.0 ± 3.1 below | 72.0 ± 2.0 | -3.0 ± 3.1 matches "
                        "| 90.0 (1 seed) | +15.0 (one seed: no verdict) |")
    assert lines[4:7] == ["| model | `fixed, grouped` against `fixed` (random batches): Δ ± SE |", "|---|---|",
                          "| LSTM | +10.0 ± 1.6 matches |"]
    assert "| model | run | seed 0 | seed 1 | seed 2 |" in lines
    assert "| LSTM | Keras | 70.00 | 80.00 | 75.00 |" in lines
    assert "| LSTM | bucket | 90.00 |  |  |" in lines


def test_the_verdict_boundary_is_two_standard_errors():
    keras = [0.70, 0.80]  # 75.0 ± 7.07
    just_within = [0.65, 0.75]  # 70.0 ± 7.07: 5.0 below, SE 7.07 → matches
    results = [Result("elman", "Keras", s, a) for s, a in enumerate(keras)]
    results += [Result("elman", "bucket", s, a) for s, a in enumerate(just_within)]
    assert "| -5.0 ± 7.1 matches |" in tutorial_seeds.tables(results)
    far_below = [Result("elman", "bucket", s, a - 0.2) for s, a in enumerate(just_within)]  # 25.0 below 2 × 7.07
    assert "| -25.0 ± 7.1 below |" in tutorial_seeds.tables(results[:2] + far_below)


@pytest.mark.parametrize("overrides, setting", [
    (["data.by_length=false"], "fixed"),
    ([], "fixed, grouped"),  # experiment=tutorial's own batches
    (["data.batching=bucket"], "bucket"),
])
def test_a_job_is_placed_by_its_own_config(tmp_path, overrides, setting):
    assert tutorial_seeds.setting_of(compose_config("train", tmp_path, ["experiment=tutorial", *overrides])) == setting


@pytest.mark.slow
def test_reads_a_real_sweep_beside_keras_lines(tmp_path, imdb_dir):
    sweep = tmp_path / "sweep"
    result = run_module("rnn_sentiment.train", "-m", "experiment=tutorial", "model=elman", "seed=0,1",
                        "data.batching=fixed", "data.by_length=true", f"data.path={imdb_dir}",
                        f"hydra.sweep.dir={sweep}", *QUICK, "trainer.max_epochs=1", "model.net.hidden_size=8")
    assert result.returncode == 0, result.stderr[-2000:]
    unfinished = sweep / "2" / ".hydra"  # a job killed before it wrote metrics.json
    unfinished.mkdir(parents=True)
    (unfinished / "overrides.yaml").write_text("- seed=2\n")
    accs = [json.loads((sweep / str(job) / "metrics.json").read_text())["test/acc"] for job in (0, 1)]

    found, skipped = tutorial_seeds.read_sweep(sweep)
    assert sorted(found, key=lambda r: r.seed) == [Result("elman", "fixed, grouped", 0, accs[0]),
                                                   Result("elman", "fixed, grouped", 1, accs[1])]
    assert skipped == [f"{sweep / '2'}: unfinished"]

    keras = tmp_path / "keras.jsonl"
    keras_lines(keras, "elman", [0.5, 0.6])
    with keras.open("a") as file:  # a quick try of keras_parity.py --train --limit 300
        file.write(json.dumps({"model": "elman", "seed": 0, "test_acc": 0.9, "limit": 300}) + "\n")
    printed = run_script("--keras", str(keras), str(sweep))
    assert printed.returncode == 0, printed.stderr
    assert printed.stderr.splitlines() == [f"left out: {keras}, line 3: a quick try on 300 reviews",
                                           f"left out: {sweep / '2'}: unfinished"]
    row = next(line for line in printed.stdout.splitlines() if line.startswith("| Elman | 55.0 ± 7.1 |"))
    assert row.split(" | ")[2:4] == ["—", "—"]  # no fixed runs with random batches
    assert f"| Elman | fixed, grouped | {100 * accs[0]:.2f} | {100 * accs[1]:.2f} |" in printed.stdout


def test_bad_inputs_are_one_line_errors(tmp_path):
    keras = tmp_path / "keras.jsonl"
    keras_lines(keras, "lstm", [0.8])
    with keras.open("a") as file:
        file.write('{"model": "lstm", "seed": 1}\n')
    printed = run_script("--keras", str(keras), str(tmp_path))
    assert printed.returncode == 2
    assert printed.stderr.startswith(f"error: {keras}, line 2: not a keras_parity.py --train result")
    printed = run_script("--keras", str(tmp_path / "missing.jsonl"), str(tmp_path))
    assert printed.returncode == 2 and "no such file; keras_parity.py --train --results" in printed.stderr
    keras.write_text("")
    printed = run_script("--keras", str(keras), str(tmp_path / "nowhere"))
    assert printed.returncode == 2 and printed.stderr == f"error: {tmp_path / 'nowhere'}: no such sweep directory " \
        "(hydra.sweep.dir of a multirun)\n"


def test_figure_of_every_seed(tmp_path):
    results = [Result("lstm", "Keras", s, a) for s, a in enumerate([0.7, 0.8])] + [Result("elman", "bucket", 0, 0.6)]
    path = tutorial_seeds.figure(results, tmp_path / "seeds.png")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_figure_without_results_is_a_one_line_error(tmp_path):
    from rnn_sentiment.core.errors import UserInputError

    with pytest.raises(UserInputError, match="no results to draw"):
        tutorial_seeds.figure([], tmp_path / "seeds.png")
