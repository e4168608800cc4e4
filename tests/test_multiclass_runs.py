"""A five-class dataset end to end: training, per-class metrics, TensorBoard, predict, explain, the
pretrained encoder and the linear baselines, each checked against the labels it was given."""

import csv
import json
from pathlib import Path

import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from conftest import QUICK, compose_config, run_module
from rnn_sentiment.core.training import train
from test_classes import CLASSES, class_label_dataset, class_rows
from test_tensorboard import tags_by_plugin

pytestmark = pytest.mark.slow  # every test trains or starts an entry point
KEYS = [name.replace(" ", "_") for name in CLASSES]


@pytest.fixture(scope="module")
def five_classes(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("five") / "data"
    folder.mkdir()
    for split, n, seed in (("train", 500, 1), ("validation", 80, 2), ("test", 150, 3)):
        class_label_dataset(class_rows(n, seed)).to_parquet(folder / f"{split}.parquet")
    return folder


@pytest.fixture(scope="module")
def run(five_classes, tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("run")
    overrides = [o for o in QUICK if o != "~logger"] + ["trainer.max_epochs=6", "model.lr=0.01"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
        train(compose_config("train", tmp_path, ["model=lstm", f"data.path={five_classes}",
                                                 f"paths.cache_dir={tmp_path / 'cache'}", "model.net.hidden_size=16",
                                                 *overrides]))
    return tmp_path / "run"


def predictions(checkpoint: Path, texts_file: Path, tmp_path: Path, *options: str) -> list[dict]:
    out = tmp_path / "scores.csv"
    done = run_module("rnn_sentiment.predict", f"ckpt_path={checkpoint}", f"file={texts_file}", "column=text",
                      f"output={out}", *options)
    assert done.returncode == 0, done.stderr
    with out.open() as file:
        return list(csv.DictReader(file))


def test_metrics_of_every_class_equal_those_of_the_predictions(run, five_classes, tmp_path):
    metrics = json.loads((run / "metrics.json").read_text())
    (best,) = (run / "checkpoints").glob("best-*.ckpt")
    test_rows = class_rows(150, 3)
    texts = tmp_path / "test.csv"
    with texts.open("w", newline="") as file:
        csv.writer(file).writerows([["text"]] + [[row["text"]] for row in test_rows])
    rows = predictions(best, texts, tmp_path)

    assert list(rows[0]) == ["row", "label", *[f"p_{name}" for name in CLASSES], "note"]
    for row in rows:
        p = [float(row[f"p_{name}"]) for name in CLASSES]
        assert sum(p) == pytest.approx(1, abs=1e-5)
        assert row["label"] == CLASSES[max(range(5), key=p.__getitem__)]
    truth = [CLASSES[row["label"]] for row in test_rows]
    predicted = [row["label"] for row in rows]
    assert metrics["test/acc"] == pytest.approx(accuracy_score(truth, predicted), abs=1e-6)
    assert metrics["test/acc"] >= 0.8  # the cue words make the task learnable
    assert metrics["test/macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"), abs=1e-5)
    for name, key in zip(CLASSES, KEYS):
        for metric, score in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
            expected = score(truth, predicted, labels=[name], average=None, zero_division=0)[0]
            assert metrics[f"test/{metric}/{key}"] == pytest.approx(expected, abs=1e-5)
        assert f"val/f1/{key}" in metrics


def test_tensorboard_has_a_pr_curve_per_class_and_the_confusion_matrix(run):
    log_dir = run / "tensorboard"
    tags = tags_by_plugin(log_dir)
    assert {f"test/pr_curve/{key}" for key in KEYS} == tags["pr_curves"]
    assert "test/confusion_matrix" in tags["images"]
    assert {"val/macro_f1", "test/macro_f1", *(f"val/recall/{key}" for key in KEYS)} <= tags["scalars"]
    positives = {}
    for events in log_dir.glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(events)).Load():
            for value in event.summary.value:
                if value.tag.startswith("test/pr_curve/"):
                    positives[value.tag] = value.tensor.float_val[0]  # true positives at threshold 0: the class's rows
    truth = [row["label"] for row in class_rows(150, 3)]
    assert positives == {f"test/pr_curve/{key}": float(truth.count(index)) for index, key in enumerate(KEYS)}


def test_explain_names_the_predicted_class(run, tmp_path):
    (best,) = (run / "checkpoints").glob("best-*.ckpt")
    html = tmp_path / "why.html"
    text = class_rows(1, 3)[0]["text"]
    done = run_module("rnn_sentiment.predict", f"ckpt_path={best}", f"text={text}", f"explain={html}")
    assert done.returncode == 0, done.stderr
    label = done.stdout.splitlines()[1].split("\t")[1]
    assert done.stdout.splitlines()[0] == "p\tlabel\ttext"
    assert f"<h3>{label} (p = " in html.read_text()


def test_a_pretrained_encoder_fine_tunes_on_five_classes(five_classes, lm_checkpoint, tmp_path):
    encoder = lm_checkpoint / "checkpoints" / "last.ckpt"
    done = run_module("rnn_sentiment.train", f"data.path={five_classes}", f"encoder_ckpt={encoder}",
                      f"hydra.run.dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'cache'}", *QUICK)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {f"test/f1/{key}" for key in KEYS} <= set(metrics)
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["state_dict"]["net.head.weight"].shape[0] == 5
    assert checkpoint["preprocessing"]["label_names"] == CLASSES


def test_baselines_fit_one_model_per_class(five_classes, tmp_path):
    done = run_module("rnn_sentiment.baselines", f"data.path={five_classes}", f"hydra.run.dir={tmp_path / 'run'}",
                      "Cs=[0.1,1.0]", "betas=[1.0]", timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("5 classes;")
    results = json.loads((tmp_path / "run" / "baselines.json").read_text())
    assert results["features"]["reviews"] == {"train": 500, "val": 80, "test": 150}
    for model in ("nbsvm", "logistic_regression"):
        assert results[model]["test/acc"] >= 0.95
