"""Property-based fuzzing of the labelled-data readers behind `data.path` (rnn_sentiment/core/sources.py).

Each generated input (CSV, JSONL, parquet, a folder of split files, an aclImdb tree) must end in a
successful `SentimentDataModule.setup()` or a one-line `UserInputError` that names the file; never
another exception, a hang, or a cache file left half-written. An input the generator made well-formed
(valid UTF-8, undamaged, rows of two classes) must load, and its rows, texts and labels must be
exactly what the generator wrote.
"""

import csv
import io
import json
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.data import SentimentDataModule

pytestmark = pytest.mark.slow  # hundreds of generated inputs, each set up in full

EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

# words a review may hold, with the characters that break naive readers: quotes, separators, line
# breaks, NUL, zero-width and right-to-left marks, a byte-order mark inside the text
WORDS = ["great", "awful", "movie", "plot", "Élan", "שלום", "مرحبا", "映画", "\u200b", "\u200d", "\u2060", "\ufeff",
         "\u202egreat", "\u200f", '"', "'", ",", ";", "\t", "\n", "\r\n", "\r", "\\", "{", "}", "\x00", "NaN", "null"]
good_text = st.lists(st.sampled_from(WORDS[:4]), min_size=1, max_size=6).map(" ".join)
wild_text = st.one_of(
    st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join),
    st.text(max_size=20),
    st.just("great movie " * 40_000),  # a huge cell (480 kB)
    st.sampled_from(["", " ", "\u200b\u200b", "\n"]),
)
any_scalar = st.one_of(st.none(), st.integers(-3, 3), st.integers(), st.floats(), st.booleans(), wild_text)
wild_cell = st.one_of(any_scalar, st.lists(st.text(max_size=3), max_size=3), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))
label_pairs = st.sampled_from([(0, 1), ("neg", "pos"), ("0", "1"), (True, False), (0.0, 1.0), ("négatif", "\u202epos")])


# a readable review that holds the hard characters
hard_text = st.lists(st.sampled_from(WORDS), max_size=6).map(lambda words: " ".join(["movie", *words]))
HUGE = "great movie\u200b " * 40_000


def label_name(value) -> str:
    """The class name a well-formed label becomes: booleans as 0/1, everything else as its text."""
    return str(int(value)) if isinstance(value, bool) else str(value)


@st.composite
def rows(draw, cells=wild_cell):
    """Either well-formed rows of both classes with hard characters in the texts (these should load:
    returned with the (text, class name) pairs they hold), or mostly good rows among rows with
    missing, extra or wild cells (returned with None)."""
    pair = draw(label_pairs)
    if draw(st.booleans()):
        row = st.fixed_dictionaries({"text": hard_text, "label": st.sampled_from(pair)})
        huge = [{"text": HUGE, "label": pair[0]}] if draw(st.integers(0, 3)) == 0 else []
        table = [{"text": "good movie", "label": label} for label in pair] + huge + draw(st.lists(row, min_size=8, max_size=25))
        return table, [(r["text"], label_name(r["label"])) for r in table]
    good = st.fixed_dictionaries({"text": good_text, "label": st.sampled_from(pair)})
    wild = st.fixed_dictionaries({}, optional={"text": cells, "label": cells, "extra": cells})
    return draw(st.lists(st.one_of(good, good, good, wild), max_size=25)), None


@st.composite
def encoding(draw, text: str) -> tuple[bytes, bool]:
    """UTF-8 (maybe with a BOM), or bytes that are not UTF-8; and whether they hold `text` as valid UTF-8."""
    how = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "latin-1", "stray byte"]))
    if how == "latin-1":
        return text.encode("latin-1", errors="replace"), False
    data = text.encode("utf-8-sig" if how == "utf-8-sig" else "utf-8")
    if how == "stray byte":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xe9", b"\x80\x80"])) + data[at:], False
    return data, True


def encoded(text: str) -> st.SearchStrategy[bytes]:
    return encoding(text).map(lambda pair: pair[0])


def csv_cell(value) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


@st.composite
def csv_bytes(draw) -> tuple[bytes, list | None]:
    """A CSV with a header (maybe missing, renamed or duplicated), rows maybe ragged, quoting maybe broken;
    with the (text, class name) pairs it holds when it is well-formed, else None."""
    table, expected = draw(rows())
    columns = list(dict.fromkeys(key for row in table for key in row)) or ["text", "label"]
    damaged = draw(st.booleans())  # else well-formed CSV, whatever the cells hold
    header = draw(st.sampled_from(["keep", "none", "duplicate"])) if damaged else "keep"
    out = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    writer = csv.writer(out, quoting=quoting, lineterminator=terminator)
    # Python's writer quotes a cell for the characters of its line terminator only: with "\n" a bare "\r"
    # inside a cell goes out unquoted, which every reader takes for a line break (not well-formed CSV)
    bare_cr = quoting == csv.QUOTE_MINIMAL and terminator == "\n" and any("\r" in str(r.get("text")) for r in table)
    if header == "keep":
        writer.writerow(columns)
    elif header == "duplicate":
        writer.writerow(columns + columns[:1])
    broken = damaged and draw(st.booleans())
    for row in table:
        cells = [csv_cell(row.get(column)) for column in columns]
        if damaged and draw(st.integers(0, 9)) == 0:
            cells = cells[: draw(st.integers(0, len(cells)))] + draw(st.lists(st.just("x"), max_size=2))  # ragged
        if broken:  # naive joins: unbalanced quotes, separators inside cells
            out.write(",".join(cells) + "\n")
        else:
            writer.writerow(cells)
    data, valid = draw(encoding(out.getvalue()))
    return data, expected if valid and not damaged and not bare_cr else None


@st.composite
def jsonl_bytes(draw) -> tuple[bytes, list | None]:
    """JSON lines: objects, maybe with blank, truncated or non-object lines, NaN, duplicate keys; with
    the (text, class name) pairs they hold when well-formed, else None."""
    lines = []
    damaged = draw(st.booleans())
    table, expected = draw(rows())
    for row in table:
        line = json.dumps(row, ensure_ascii=draw(st.booleans()))
        damage = draw(st.integers(0, 14)) if damaged else 2
        if damage == 0:
            line = line[: draw(st.integers(0, len(line)))]
        elif damage == 1:
            line = draw(st.sampled_from(["", "[1, 2]", '"a review"', "null", "42", '{"text": "a", "text": 1}']))
        lines.append(line)
    data, valid = draw(encoding("\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))))
    return data, expected if valid and not damaged else None


ARROW_COLUMNS = {
    "string": (pa.string(), st.one_of(st.none(), good_text, wild_text)),
    "large_string": (pa.large_string(), st.one_of(good_text, st.none())),
    "int64": (pa.int64(), st.one_of(st.none(), st.integers(-1, 2))),
    "int8": (pa.int8(), st.integers(0, 1)),
    "float64": (pa.float64(), st.one_of(st.none(), st.floats(), st.sampled_from([0.0, 1.0]))),
    "bool": (pa.bool_(), st.one_of(st.none(), st.booleans())),
    "binary": (pa.binary(), st.binary(max_size=10)),
    "null": (pa.null(), st.none()),
    "list<string>": (pa.list_(pa.string()), st.lists(st.text(max_size=3), max_size=2)),
    "dictionary": (pa.dictionary(pa.int32(), pa.string()), st.sampled_from(["neg", "pos", None])),
}


@st.composite
def parquet_bytes(draw) -> tuple[bytes, list | None]:
    """A parquet table whose text and label columns have any Arrow type (or are missing), with nulls;
    with the (text, class name) pairs it holds when well-formed, else None."""
    n = draw(st.integers(0, 20))
    if draw(st.booleans()):  # well-formed: both classes, hard characters in the texts
        texts = ["good movie", "bad movie"] + draw(st.lists(hard_text, min_size=8, max_size=20))
        if draw(st.integers(0, 3)) == 0:
            texts[0] = HUGE
        labels = [0, 1] + draw(st.lists(st.integers(0, 1), min_size=len(texts) - 2, max_size=len(texts) - 2))
        label_type = draw(st.sampled_from([pa.int64(), pa.int8(), pa.float64(), pa.bool_()]))
        table = pa.table({"text": pa.array(texts), "label": pa.array(labels).cast(label_type)})
        sink = io.BytesIO()
        pq.write_table(table, sink)
        written = [label_name(float(v) if label_type == pa.float64() else bool(v) if label_type == pa.bool_() else v)
                   for v in labels]
        return sink.getvalue(), list(zip(texts, written))
    names = draw(st.lists(st.sampled_from(["text", "label", "extra", "Text"]), min_size=1, max_size=3, unique=True))
    columns = {}
    for name in names:
        kind = draw(st.sampled_from(["string", "string", "int64"] if name != "label" else list(ARROW_COLUMNS)))
        if name == "text" and draw(st.integers(0, 3)) == 0:
            kind = draw(st.sampled_from(list(ARROW_COLUMNS)))
        arrow_type, values = ARROW_COLUMNS[kind]
        data = draw(st.lists(values, min_size=n, max_size=n))
        columns[name] = pa.array(data, type=pa.string() if kind == "dictionary" else arrow_type)
        if kind == "dictionary":
            columns[name] = columns[name].dictionary_encode()
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    data = sink.getvalue()
    if draw(st.integers(0, 9)) == 0:  # a truncated file
        data = data[: draw(st.integers(0, len(data)))]
    return data, None


FILE_FORMATS = {"csv": csv_bytes(), "jsonl": jsonl_bytes(), "parquet": parquet_bytes()}


@st.composite
def split_folder(draw) -> dict[str, bytes]:
    """train/validation/test files of mixed formats; maybe two for one split, a stray file, an upper-case suffix."""
    files = {}
    for split in ("train", "validation", "test"):
        for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2] if split == "train" else [0, 1]))):
            suffix = draw(st.sampled_from(["csv", "jsonl", "parquet"]))
            name = f"{split}.{suffix.upper() if draw(st.integers(0, 9)) == 0 else suffix}"
            files[name] = draw(FILE_FORMATS[suffix])[0]
    if draw(st.booleans()):
        files[draw(st.sampled_from(["README.txt", "train.txt", "notes.md", ".hidden"]))] = b"stray"
    return files


@st.composite
def acl_tree(draw) -> dict[str, bytes]:
    """An aclImdb-style tree: <split>/<class>/<n>_<rating>.txt, with one, two or three classes."""
    files = {}
    text_bytes = st.one_of(good_text.flatmap(encoded), wild_text.flatmap(encoded), st.binary(max_size=12))
    classes = st.lists(st.sampled_from(["neg", "pos", "unsup", "neutral", "0", "1", "négatif"]), max_size=3, unique=True)
    if draw(st.booleans()):  # well-formed: two classes of UTF-8 reviews
        text_bytes = hard_text.map(str.encode)
        train_classes = ["neg", "pos"]
    else:
        train_classes = draw(classes)
    for split in ["train"] + (["test"] if draw(st.booleans()) else []):
        for name in train_classes if split == "train" or draw(st.booleans()) else draw(classes):
            for number in range(draw(st.integers(0 if split == "test" else 3, 6))):
                suffix = "txt" if draw(st.integers(0, 9)) else draw(st.sampled_from(["TXT", "md"]))
                files[f"{split}/{name}/{number}_7.{suffix}"] = draw(text_bytes)
        if draw(st.integers(0, 9)) == 0:
            files[f"{split}/urls_pos.txt"] = b"http://example.org\n"
    return files


@contextmanager
def time_limit(seconds: int):
    def expire(signum, frame):
        raise TimeoutError(f"setup() took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def datasets_cache_in_tmp(tmp_path, monkeypatch):
    # `datasets` read HF_DATASETS_CACHE when it was imported, before conftest's fixture set it
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf"))
    datasets.disable_progress_bars()


def cached_files(cache: Path) -> list[Path]:
    """What the cache folder holds besides the lock files that keep concurrent builders apart."""
    return [p for p in cache.glob("*") if p.suffix != ".lock"] if cache.exists() else []


def setup_ends_well(files: dict[str, bytes], path: str = "", expected: list | None = None) -> None:
    """Writes `files` into a fresh folder, runs setup() on `path` inside it, checks the outcome;
    `expected`: the (text, class name) pairs a well-formed input holds, which it must load as they are."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve() / "data"
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        root.mkdir(exist_ok=True)
        cache = Path(tmp) / "cache"
        module = SentimentDataModule(path=str(root / path), cache_dir=str(cache), max_len=20, batch_size=4)
        try:
            with time_limit(60):
                module.setup()
        except UserInputError as error:
            assert expected is None, f"a well-formed input was refused: {error}"
            message = str(error)
            assert "\n" not in message and "\r" not in message, message
            assert str(root) in message, message  # names the file or folder at fault
            assert not cached_files(cache)  # nothing half-written
            event("UserInputError")
        else:
            assert [p.suffix for p in cached_files(cache)] == [".pt"]
            assert len(module.label_names) >= 2
            assert all(len(module.datasets[split]) > 0 for split in ("train", "val", "test"))
            if expected is not None:
                splits, names, _ = module.read_splits()
                read = [(text, names[int(label)]) for texts, labels in splits.values() for text, label in zip(texts, labels)]
                assert sorted(read) == sorted(expected)
            event("set up")


@pytest.mark.parametrize("suffixes", [["csv"], ["jsonl", "json"], ["parquet"]], ids=["csv", "jsonl", "parquet"])
@EXAMPLES
@given(data=st.data())
def test_one_file(suffixes, data):
    suffix = data.draw(st.sampled_from(suffixes))
    content, expected = data.draw(FILE_FORMATS[suffixes[0]])
    setup_ends_well({f"reviews.{suffix}": content}, f"reviews.{suffix}", expected)


@EXAMPLES
@given(files=split_folder())
def test_folder_of_split_files(files):
    setup_ends_well(files)


@EXAMPLES
@given(files=acl_tree())
def test_aclimdb_tree(files):
    setup_ends_well(files)
