"""benchmarks/throughput.py's registry, row type, JSON and table, on a fake measurement (no data, no training)."""

import importlib.util
import json

import pytest

from conftest import ROOT


@pytest.fixture
def throughput():
    """The benchmark script as a fresh module, so a measurement registered by a test stays in it."""
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "benchmarks" / "throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_registered_measurement_runs_alone_into_rows_json_and_one_table(throughput, tmp_path, capsys):
    values = iter([2.0, 4.0, 3.0, 10.0, 30.0, 20.0])

    @throughput.measurement("fake")
    def fake(bench):
        slow = throughput.Row.of("fake model, slow way", "items/s", bench.measure(lambda: next(values)))
        yield slow
        yield throughput.Row.of("fake model, fast way", "items/s", bench.measure(lambda: next(values)), slow)

    output = tmp_path / "results" / "throughput.json"
    throughput.main(["--only", "fake", "--repeats", "3", "--output", str(output)])

    printed = capsys.readouterr().out
    assert "| measurement | setting | median [min–max] | unit | compared with | ratio |" in printed
    assert "| fake | fake model, slow way | 3 [2–4] | items/s |  |  |" in printed
    # the reference is named by what differs from the row; ratio = 20 / 3
    assert "| fake | fake model, fast way | 20 [10–30] | items/s | slow way | 6.67× |" in printed
    assert "Keras" not in printed  # only training measurements compare with Keras
    results = json.loads(output.read_text())
    assert results["options"] == {"steps": None, "warmup": 5, "repeats": 3, "only": ["fake"], "epoch_check": "headline"}
    assert results["matmul_gflops"] is None  # no measurement asked for the matmul peak
    assert results["rows"] == [
        {"measurement": "fake", "setting": "fake model, slow way", "unit": "items/s", "median": 3.0, "min": 2.0,
         "max": 4.0, "reference": None, "ratio": None},
        {"measurement": "fake", "setting": "fake model, fast way", "unit": "items/s", "median": 20.0, "min": 10.0,
         "max": 30.0, "reference": "fake model, slow way", "ratio": pytest.approx(20 / 3)},
    ]


def test_only_names_the_measurements_and_rejects_an_unknown_one(throughput, capsys):
    with pytest.raises(SystemExit) as exit_info:
        throughput.parse_args(["--only", "train,trian"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    names = ["tokenize", "setup", "train", "eval", "predict", "bidirectional", "lm", "precision", "generate"]
    assert f"--only trian: no such measurement; choose from {','.join(names)}" in error
    assert throughput.parse_args([]).only == names


def test_steps_are_whole_epochs_unless_a_number_is_given(throughput, capsys):
    assert throughput.parse_args([]).steps is None and throughput.parse_args(["--steps", "epoch"]).steps is None
    assert throughput.parse_args(["--steps", "40"]).steps == 40
    for wrong in ("0", "ten"):
        with pytest.raises(SystemExit):
            throughput.parse_args(["--steps", wrong])
        assert f"--steps {wrong}: give a number of steps (at least 1) or epoch" in capsys.readouterr().err


def test_a_row_more_than_ten_percent_from_its_real_epoch_is_flagged(throughput):
    window = throughput.Row.of("lstm, tutorial: Lightning", "reviews/s", [1000.0])
    near, far = throughput.epoch_check_row("lstm, tutorial", window, 1090.0), throughput.epoch_check_row(
        "lstm, tutorial", window, 880.0)
    assert near.setting == "lstm, tutorial: real epoch, agrees" and near.ratio == pytest.approx(1.09)
    assert far.setting == "lstm, tutorial: real epoch, DISAGREES by more than 10%"
    assert far.reference == "lstm, tutorial: Lightning" and far.median == 880.0


@pytest.mark.parametrize("cell, gates, conv", [("rnn", 1, 0), ("lstm", 4, 0), ("gru", 3, 0), ("lstm", 4, 6)])
def test_the_floor_counts_each_networks_recurrent_and_conv_arithmetic(throughput, cell, gates, conv):
    from rnn_sentiment.network import RecurrentClassifier

    net = RecurrentClassifier(50, cell=cell, embed_dim=8, hidden_size=10, conv_channels=conv, conv_kernel=3, pool_size=2)
    inputs, steps = (conv, 20 / 2) if conv else (8, 20)
    recurrent = 2 * steps * gates * 10 * (inputs + 10)
    convolution = 2 * 20 * 8 * conv * 3
    assert throughput.classifier_flops_per_review(net, 20) == 3 * (recurrent + convolution)

