"""benchmarks/sentences.py: the benchmark table from multirun directories, baselines on the same splits."""

import importlib.util
import json
import statistics

import pytest
from omegaconf import OmegaConf

from conftest import ROOT, compose_config
from test_classes import class_label_dataset, class_rows

spec = importlib.util.spec_from_file_location("sentences_benchmark", ROOT / "benchmarks" / "sentences.py")
sentences = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sentences)


def write_job(sweep, number: int, tmp_path, overrides: list[str], test_acc: float | None):
    """A job directory as a multirun leaves it: the composed config, the overrides, metrics.json when finished."""
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    cfg = compose_config("train", tmp_path, ["experiment=sentences", *overrides])
    OmegaConf.save(cfg, job / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": {"runtime": {"cwd": str(tmp_path)}}}), job / ".hydra" / "hydra.yaml")
    if test_acc is not None:
        (job / "metrics.json").write_text(json.dumps({"test/acc": test_acc, "overrides": overrides}))


@pytest.fixture
def sweep(tmp_path):
    data = tmp_path / "data"
    for name, classes in (("sst5", ["a", "b", "c"]), ("mr", ["neg", "pos"])):
        (data / name).mkdir(parents=True)
        class_label_dataset(class_rows(200, 1, classes), classes).to_parquet(data / name / "train.parquet")
    sweep = tmp_path / "sweep"
    jobs = [(["model=lstm", "seed=1"], "sst5", 0.40), (["model=lstm", "seed=2"], "sst5", 0.44),
            (["model=bilstm", "seed=1"], "sst5", 0.42), (["model=conv_lstm", "seed=1"], "sst5", None),
            (["model=elman", "seed=1", "data.folds=2", "data.fold=0"], "mr", 0.70),
            (["model=elman", "seed=1", "data.folds=2", "data.fold=1"], "mr", 0.76)]
    for number, (overrides, dataset, accuracy) in enumerate(jobs):
        write_job(sweep, number, tmp_path, [f"data.path={data / dataset}", *overrides], accuracy)
    return sweep


def test_the_table_averages_seeds_and_folds_per_dataset_and_model(sweep, tmp_path):
    accuracies, splits, notes = sentences.read_sweeps([sweep])
    assert accuracies == {("SST-1", "LSTM"): [40.0, 44.0], ("SST-1", "BiLSTM"): [42.0], ("MR", "Elman"): [70.0, 76.0]}
    assert notes == [f"{sweep / '3'}: unfinished, left out"]
    table = sentences.table(accuracies)
    assert f"| LSTM | – | {42.0:.1f} ± {statistics.stdev([40.0, 44.0]):.1f} (2) | – | – |" in table
    assert "| Elman | 73.0 ± 4.2 (2) | – | – | – |" in table
    assert "| *CNN-rand (Kim 2014)* | *76.1* | *45.0* | *82.7* | *91.2* |" in table


def test_baselines_are_fitted_on_each_split_the_sweeps_used(sweep, capsys):
    _, splits, _ = sentences.read_sweeps([sweep])
    measured = sentences.measure_baselines(splits)
    assert {key: len(values) for key, values in measured.items()} == {
        ("SST-1", sentences.BASELINES["nbsvm"]): 2, ("SST-1", sentences.BASELINES["logistic_regression"]): 2,
        ("MR", sentences.BASELINES["nbsvm"]): 2, ("MR", sentences.BASELINES["logistic_regression"]): 2}
    assert all(value >= 90 for values in measured.values() for value in values)  # the cue words decide the class
    assert "data.fold=1" in capsys.readouterr().err


def test_a_directory_without_sentence_jobs_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        sentences.main([str(tmp_path / "nowhere")])
    assert stop.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'nowhere'}: no such sweep directory")
