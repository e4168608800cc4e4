"""python -m rnn_sentiment.predict: one output row per input row, streamed in chunks, through Trainer.predict."""

import csv
import io
import json
import random
import re
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import NOISE, QUICK, ROOT, compose_config, run_module, sentiment_frame
from rnn_sentiment.checkpoints import load_module
from rnn_sentiment.errors import UserInputError
from rnn_sentiment.module import SentimentClassifier
from rnn_sentiment.predict import predict
from rnn_sentiment.training import train


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny LSTM classifier's last.ckpt (8 units: prediction tests are about rows, not accuracy)."""
    tmp_path = tmp_path_factory.mktemp("classifier")
    data = tmp_path / "imdb"
    data.mkdir()
    sentiment_frame(320, seed=1).to_parquet(data / "train.parquet")
    sentiment_frame(120, seed=2).to_parquet(data / "test.parquet")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
        cfg = compose_config("train", tmp_path, ["model=lstm", f"data.path={data}", f"paths.cache_dir={tmp_path / 'cache'}",
                                                 "model.hidden_size=8", "model.embed_dim=8", *QUICK])
        train(cfg)
    return tmp_path / "run" / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def module(checkpoint):
    return load_module(str(checkpoint), SentimentClassifier, "sentiment")


def predict_config(**options):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("predict")
    return OmegaConf.merge(cfg, options)


def test_every_input_line_gets_one_output_row_in_order(checkpoint, module, tmp_path):
    lines = ["A superb film, really!", "", "   ", "The plot was dreadful and boring.", "!!!", "great\tgreat"]
    (tmp_path / "reviews.txt").write_text("\n".join(lines) + "\n")
    result = run_module("rnn_sentiment.predict", f"ckpt_path={checkpoint}", f"file={tmp_path / 'reviews.txt'}",
                        f"output={tmp_path / 'scores.csv'}", "with_text=true", "batch_size=2")
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "scores.csv", newline="") as scores:
        rows = list(csv.DictReader(scores))
    assert [r["row"] for r in rows] == [str(i) for i in range(len(lines))]
    assert [r["text"] for r in rows] == lines
    expected = module.predict_proba(lines).tolist()
    assert [float(r["p_positive"]) for r in rows] == pytest.approx(expected, abs=1e-5)
    assert [r["label"] for r in rows] == [module.preprocessing["label_names"][p >= 0.5] for p in expected]
    assert [r["note"] for r in rows] == ["", "empty", "empty", "", "empty", ""]
    table = result.stdout.splitlines()
    assert table[0] == "p_positive\tlabel\ttext" and len(table) == 1 + len(lines)
    assert table[2].endswith("\t[empty]") and table[5].endswith("\t!!!")


def test_table_from_standard_input_with_an_id_column_to_json_lines(checkpoint, tmp_path):
    table = 'review_id,review,stars\nr1,"Great, wonderful!",5\nr2,,1\nr3\nr4,"awful\nboring",2,extra\n'
    result = subprocess.run(
        [sys.executable, "-m", "rnn_sentiment.predict", f"ckpt_path={checkpoint}", "file=-", "format=csv",
         "column=review", "id_column=review_id", f"output={tmp_path / 'scores.jsonl'}", "print_rows=0"],
        input=table, capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    rows = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert [list(r) for r in rows] == [["review_id", "label", "p_positive", "note"]] * 4
    assert [(r["review_id"], r["note"]) for r in rows] == [("r1", ""), ("r2", "empty"), ("r3", "missing"), ("r4", "")]
    assert "4 rows in" in result.stderr and "1 empty, 1 missing" in result.stderr


def test_prediction_runs_through_a_configured_trainer_without_side_effects(module, tmp_path, monkeypatch):
    cfg = predict_config()
    assert (cfg.trainer.accelerator, cfg.trainer.precision, cfg.trainer.logger) == ("cpu", "32-true", False)
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        gpu = compose("predict", overrides=["trainer=gpu"]).trainer
    assert (gpu.accelerator, gpu.devices, gpu.precision, gpu.enable_checkpointing) == ("gpu", 1, "bf16-mixed", False)

    monkeypatch.chdir(tmp_path)
    calls, predict_step = [], SentimentClassifier.predict_step

    def counted(self, batch, batch_idx):
        calls.append(len(batch["tokens"]))
        return predict_step(self, batch, batch_idx)

    monkeypatch.setattr(SentimentClassifier, "predict_step", counted)
    (tmp_path / "reviews.txt").write_text("great film\n" * 5)
    writer = predict(OmegaConf.merge(cfg, {"file": "reviews.txt", "output": "scores.csv", "batch_size": 2}), module)
    assert writer.count == 5 and calls == [2, 2, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reviews.txt", "scores.csv"]  # no logs, no checkpoints


@pytest.mark.parametrize(
    "options, message",
    [({"output": "scores.txt"}, "output=scores.txt: name a .csv or .jsonl file"),
     ({"output": "missing/scores.csv"}, "output=missing/scores.csv: no folder"),
     ({"output": "reviews.csv", "file": "reviews.csv"}, "output=reviews.csv: is the input file itself"),
     ({"id_column": "review_id"}, "id_column=review_id: a text file has no columns"),
     ({"file": "reviews.csv", "column": "review"}, "reviews.csv: no column 'review' (columns: 'text', 'id')"),
     ({"chunk_size": 0}, "chunk_size=0 must be a positive number of rows"),
     ({"format": "xml"}, "format='xml' is unknown"),
     ({"trainer": {"devices": 2}}, "trainer: prediction runs on one device, not 2")],
)
def test_bad_options_are_one_line_errors(module, tmp_path, monkeypatch, options, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reviews.txt").write_text("good\n")
    (tmp_path / "reviews.csv").write_text("text,id\ngood,1\n")
    with pytest.raises(UserInputError, match=re.escape(message)):
        predict(predict_config(**{"file": "reviews.txt", **options}), module)


def test_a_failing_input_leaves_the_earlier_output_untouched(checkpoint, tmp_path):
    reviews = tmp_path / "reviews.txt"
    reviews.write_bytes(b"a good film\n" * 3000 + b"caf\xe9 food\n" + b"fine\n" * 10)
    (tmp_path / "scores.csv").write_text("earlier scores\n")
    result = run_module("rnn_sentiment.predict", f"ckpt_path={checkpoint}", f"file={reviews}",
                        f"output={tmp_path / 'scores.csv'}", "chunk_size=500")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {reviews}, line 3001: not valid UTF-8 (byte 0xe9 at column 4); re-encode the file, "
        "e.g. iconv -f latin1 -t utf-8"
    )
    assert (tmp_path / "scores.csv").read_text() == "earlier scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reviews.txt", "scores.csv"]  # no partial file left


PEAK_RSS = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_mb(checkpoint, reviews, output) -> float:
    """Peak resident memory of a predict subprocess over `reviews` (the kernel's high-water mark)."""
    command = [sys.executable, "-c", PEAK_RSS, sys.executable, "-m", "rnn_sentiment.predict",
               f"ckpt_path={checkpoint}", f"file={reviews}", f"output={output}", "chunk_size=2000", "with_text=true"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1]) / 1024


def test_memory_stays_flat_as_the_input_grows(checkpoint, tmp_path):
    rng = random.Random(0)
    peaks = {}
    for n in (10_000, 40_000):
        reviews = tmp_path / f"reviews_{n}.txt"
        reviews.write_text("".join(" ".join(rng.choices(NOISE + ["great", "awful"], k=12)) + "\n" for _ in range(n)))
        peaks[n] = peak_rss_mb(checkpoint, reviews, tmp_path / f"scores_{n}.csv")
        assert (tmp_path / f"scores_{n}.csv").read_text().count("\n") == n + 1
    assert peaks[40_000] - peaks[10_000] < 15, peaks  # reading it all at once: over 60 MB more
