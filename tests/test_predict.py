"""python -m rnn_sentiment.predict: one output row per input row, streamed in chunks, through Trainer.predict."""

import copy
import csv
import dataclasses
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import NOISE, QUICK, ROOT, compose_config, run_module, tiny_imdb
from rnn_sentiment.core.checkpoints import load_module
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.module import SentimentClassifier
from rnn_sentiment.prediction.classify import predict
from rnn_sentiment.core.training import train

pytestmark = pytest.mark.slow  # every test reads a classifier the module trains first


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny LSTM classifier's last.ckpt (8 units: prediction tests are about rows, not accuracy)."""
    tmp_path = tmp_path_factory.mktemp("classifier")
    data = tiny_imdb(tmp_path / "imdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
        cfg = compose_config("train", tmp_path, ["model=lstm", f"data.path={data}", f"paths.cache_dir={tmp_path / 'cache'}",
                                                 "model.net.hidden_size=8", "model.net.embed_dim=8", *QUICK])
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
    words = [bool(module.tokenizer.words(line)) for line in lines]
    assert [float(r["p_positive"]) for r, w in zip(rows, words) if w] == pytest.approx(
        [p for p, w in zip(expected, words) if w], abs=1e-5)
    names = module.preprocessing.label_names
    assert [r["label"] for r in rows] == [names[p >= 0.5] if w else "" for p, w in zip(expected, words)]
    assert [(r["p_positive"], r["label"]) for r, w in zip(rows, words) if not w] == [("", "")] * 3  # no class
    assert [r["note"] for r in rows] == ["", "empty", "empty", "", "empty", ""]
    table = result.stdout.splitlines()
    assert table[0] == "p_positive\tlabel\ttext" and len(table) == 1 + len(lines)
    assert table[2] == "\t\t[empty]" and table[5] == "\t\t!!!"


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
    assert [(r["label"], r["p_positive"]) for r in rows[1:3]] == [("", None), ("", None)]  # nothing to classify
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



def test_pre_padded_rows_sorted_by_length_keep_their_order_and_each_its_own_scores(module, tmp_path, monkeypatch):
    fixed = copy.deepcopy(module)
    fixed.set_preprocessing(dataclasses.replace(module.preprocessing,
                                                layout=dataclasses.replace(module.preprocessing.layout, batching="fixed")))
    rng = random.Random(7)
    lines = [" ".join(rng.choice(NOISE + ["great", "awful"]) for _ in range(rng.randint(1, 60))) for _ in range(23)]
    (tmp_path / "reviews.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    sizes = []
    predict_step = SentimentClassifier.predict_step
    monkeypatch.setattr(SentimentClassifier, "predict_step",
                        lambda self, batch, i: sizes.append(batch["rows"].words) or predict_step(self, batch, i))
    predict(predict_config(file="reviews.txt", output="scores.csv", batch_size=4, chunk_size=10), fixed)
    monkeypatch.undo()
    rows = list(csv.DictReader(open(tmp_path / "scores.csv", newline="")))
    assert [r["row"] for r in rows] == [str(i) for i in range(len(lines))]
    alone = [float(fixed.predict_proba([line], batch_size=1)) for line in lines]  # each row in a batch of its own
    assert [float(r["p_positive"]) for r in rows] == pytest.approx(alone, abs=1e-6)
    kept = [[min(words, fixed.preprocessing.layout.max_len) for words in batch] for batch in sizes]
    assert all(batch == sorted(batch) for batch in kept)  # within a chunk, by length
    assert sum(map(len, sizes)) == len(lines)


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
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # a busy shared CPU: one thread is faster, and this is about memory
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
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


# Fuzzed prediction inputs: every file ends in one output row per input row, or in a one-line
# UserInputError naming the file and line with the earlier output untouched; any other exception
# (a traceback) fails the test. Reader, Trainer.predict and writer run in this process.

FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
ODD_CHARACTERS = "\u200b\u200c\u200d\ufeff\u202e\u202d\u200f\u061f\u05d0\u2028\u2029\x85\x0b\x0c\r\t\x00 é😀"
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(ODD_CHARACTERS + "ab ,\"'"), max_size=30),
    st.sampled_from(["", " ", "\t \t", "great film", "awful, boring"]),
    st.builds(lambda word, n: word * n, st.sampled_from(["great ", "x", "é "]), st.sampled_from([5_000, 30_000])),
)
INVALID_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe9t\xe9", b"\x80abc"]


def run_fuzzed(module, folder, name: str, data: bytes, **options) -> list[dict] | str:
    """Predict `data` saved as `name`: the output's rows, or the error message."""
    source, output = folder / name, folder / "scores.jsonl"
    source.write_bytes(data)
    output.write_text("earlier\n")
    cfg = predict_config(file=str(source), output=str(output), with_text=True, print_rows=0, batch_size=7,
                         chunk_size=16, **options)
    try:
        writer = predict(cfg, module)
    except UserInputError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(str(source)), message
        assert output.read_text() == "earlier\n"
        assert sorted(p.name for p in folder.iterdir()) == sorted([name, "scores.jsonl"])
        return message
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").split("\n")[:-1]]
    assert writer.count == len(rows)
    assert all(r["note"] in ("", "empty", "missing", "not a string") for r in rows)
    assert all(0 <= r["p_positive"] <= 1 if r["label"] else r["p_positive"] is None for r in rows)
    return rows


def first_bad_line(data: bytes) -> int | None:
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            return number
    return None


@FUZZ
@given(lines=st.lists(texts, max_size=40), invalid=st.one_of(st.none(), st.tuples(st.integers(0, 40), st.sampled_from(INVALID_UTF8))),
       bom=st.booleans(), ending=st.sampled_from(["\n", "\r\n"]), final_newline=st.booleans())
def test_fuzzed_text_files(module, tmp_path, lines, invalid, bom, ending, final_newline):
    lines = [line.replace("\n", " ") for line in lines]  # a text file's line holds no line feed
    encoded = [line.encode() for line in lines]
    if invalid is not None and encoded:
        at, junk = invalid
        encoded[at % len(encoded)] += junk
    data = (b"\xef\xbb\xbf" if bom else b"") + ending.encode().join(encoded)
    if encoded and final_newline:
        data += ending.encode()
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        result = run_fuzzed(module, Path(folder), "reviews.txt", data)
    bad = first_bad_line(data)
    if bad is not None:
        assert result.startswith(f"{Path(folder) / 'reviews.txt'}, line {bad}: not valid UTF-8"), result
        return
    assert isinstance(result, list), result
    expected = [line.rstrip("\r") for line in data.decode("utf-8-sig").split("\n")]
    if data.endswith(b"\n") or not data:
        expected.pop()
    assert [r["row"] for r in result] == list(range(len(expected)))
    assert [r["text"] for r in result] == expected
    assert all(r["note"] == "empty" for r, text in zip(result, expected) if not text.strip())


cells = st.one_of(texts, st.integers(), st.sampled_from(["", "NA", "null"]))


@FUZZ
@given(has_column=st.booleans(), extra_columns=st.integers(0, 2),
       records=st.lists(st.lists(cells, min_size=1, max_size=5), max_size=30),
       stray_quote=st.one_of(st.none(), st.floats(0, 1)), invalid=st.one_of(st.none(), st.sampled_from(INVALID_UTF8)))
def test_fuzzed_csv_files(module, tmp_path, has_column, extra_columns, records, stray_quote, invalid):
    header = ["id"] + (["text"] if has_column else ["review"]) + [f"extra{i}" for i in range(extra_columns)]
    table = io.StringIO()
    writer = csv.writer(table)  # \r\n: a cell holding \r is quoted
    writer.writerow(header)
    writer.writerows(records)
    text = table.getvalue()
    if stray_quote is not None:
        at = int(stray_quote * len(text))
        text = text[:at] + '"' + text[at:]
    data = text.encode() + (invalid or b"")
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        where = Path(folder) / "reviews.csv"
        result = run_fuzzed(module, Path(folder), "reviews.csv", data, id_column="id")
    if isinstance(result, str):
        assert stray_quote is not None or invalid is not None or not has_column, result
        assert re.match(rf"{re.escape(str(where))}(, line \d+: |: no column )", result), result
        return
    if stray_quote is None and invalid is None:
        assert [r["id"] for r in result] == [str(r[0]) for r in records]
        assert [r["text"] for r in result] == [str(r[1]) if len(r) > 1 else "" for r in records]
        assert [r["note"] == "missing" for r in result] == [len(r) < 2 for r in records]


json_values = st.one_of(texts, st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(),
                        st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
BROKEN_JSON = ['{"text": "cut', "[1, 2]", '"just a string"', "null", '{"text": "a",}', "{'text': 'a'}", "[" * 100_000]


@FUZZ
@given(lines=st.lists(st.one_of(
    st.tuples(st.just("record"), st.dictionaries(st.sampled_from(["text", "id", "other"]), json_values, max_size=3)),
    st.tuples(st.just("blank"), st.sampled_from(["", "  ", "\t"])),
    st.tuples(st.just("broken"), st.sampled_from(BROKEN_JSON)),
), max_size=30), ascii_only=st.booleans())
def test_fuzzed_json_lines_files(module, tmp_path, lines, ascii_only):
    raw = [json.dumps(value, ensure_ascii=ascii_only) if kind == "record" else value for kind, value in lines]
    data = "".join(line + "\n" for line in raw).encode()
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        where = Path(folder) / "reviews.jsonl"
        result = run_fuzzed(module, Path(folder), "reviews.jsonl", data)
    broken = [number for number, (kind, _) in enumerate(lines, start=1) if kind == "broken"]
    if broken:
        assert result.startswith(f"{where}, line {broken[0]}: "), result
        return
    records = [value for kind, value in lines if kind == "record"]
    assert [r["row"] for r in result] == list(range(len(records)))
    for row, record in zip(result, records):
        value = record.get("text")
        assert row["text"] == ("" if value is None else value if isinstance(value, str) else str(value))
        words = module.tokenizer.words(value) if isinstance(value, str) else []
        assert row["note"] == ("missing" if value is None else "not a string" if not isinstance(value, str)
                               else "" if words else "empty")
