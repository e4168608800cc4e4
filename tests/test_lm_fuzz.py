"""Fuzzed language-model inputs (property-based, with hypothesis): well-formed ones load and their ids
are exactly their non-blank lines' (or cells') words in order; malformed ones end in the one-line error
for what is wrong, naming the file; never another exception or a hang."""

import csv
import json
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lm.data import SPLITS, LanguageModelDataModule
from rnn_sentiment.core.errors import UserInputError

pytestmark = pytest.mark.slow  # hundreds of generated inputs, each set up in full

FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
SECONDS_PER_CASE = 60

WORDS = st.sampled_from(["the", "whale", "Ishmael", "ship's", "naïve", "שלום", "مرحبا", "鯨", "a" * 300])
ODD = st.sampled_from([
    "", " ", "\t", "...", "!!! ??? ---", "@-@", " = Heading = ", "\u200b", "\u200b\u200c\u200d", "\ufeff",
    "\u202e\u202d", "\u200f", "\u2028", "\x0c", "\x00", "\ud7ff", "🐋🐋", "\r",
])
SENTENCES = st.lists(WORDS, min_size=3, max_size=12).map(" ".join)
MIXED = st.lists(st.one_of(WORDS, ODD), max_size=12).map(" ".join)
LINES = st.one_of(
    SENTENCES,
    SENTENCES,
    MIXED,
    st.lists(ODD, max_size=6).map(" ".join),  # no words at all
    st.text(max_size=60),
    st.builds(lambda word, n: " ".join([word] * n), st.sampled_from(["whale", "鯨", "\u200b"]),
              st.integers(10_000, 50_000)),  # huge lines
)
TEXTS = st.builds(
    lambda lines, newline, bom: (("\ufeff" if bom else "") + newline.join(lines)).encode("utf-8", "surrogatepass"),
    st.lists(LINES, min_size=15, max_size=80), st.sampled_from(["\n", "\r\n", "\r"]), st.booleans(),
)
FILE_BYTES = st.one_of(
    TEXTS,
    TEXTS,
    st.binary(max_size=400),  # mostly not UTF-8
    st.builds(lambda text, junk, at: text[:at] + junk + text[at:], TEXTS, st.binary(min_size=1, max_size=4),
              st.integers(0, 5_000)),
)
OPTIONS = st.fixed_dictionaries({
    "num_words": st.integers(3, 50),
    "seq_len": st.integers(1, 5),
    "stateful": st.booleans(),
    "batch_size": st.integers(1, 8),
    "split_fractions": st.sampled_from([(0.6, 0.2, 0.2), (0.34, 0.33, 0.33), (0.9, 0.05, 0.05), (0.98, 0.01, 0.01)]),
})


@contextmanager
def time_limit(seconds: int):
    def hang(signum, frame):
        raise TimeoutError(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def set_up(path: Path, **options) -> LanguageModelDataModule | str:
    """The DataModule set up on `path`, or the one-line message of the `UserInputError` it refused with."""
    with tempfile.TemporaryDirectory() as cache, time_limit(SECONDS_PER_CASE):
        dm = LanguageModelDataModule(path=str(path), cache_dir=cache, **options)
        try:
            dm.setup("fit")
        except UserInputError as error:
            message = str(error)
            assert "\n" not in message, message
            event("refused: " + message.split(": ", 1)[-1][:60])
            return message
        for split in SPLITS:
            ids = dm.ids[split]
            assert ids.dtype == torch.int32 and len(ids) > options.get("seq_len", 1)
            assert 0 < int(ids.min()) and int(ids.max()) < dm.vocab_size <= options.get("num_words", 10001)
        batch = next(iter(dm.train_dataloader()))
        assert batch["tokens"].shape == batch["targets"].shape
        event("set up")
        return dm


def is_utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def ids_of(dm: LanguageModelDataModule, texts: list[str]) -> torch.Tensor:
    """The ids `dm`'s tokenizer gives the non-blank `texts`, one after another."""
    flat, _ = dm.tokenizer.encode_ragged([text for text in texts if text.strip()])
    return torch.as_tensor(flat, dtype=torch.int32)


def lines_of(content: bytes) -> list[str]:
    """A UTF-8 file's lines, split as Python splits lines, a leading byte-order mark dropped."""
    return content.decode("utf-8-sig").splitlines()


def all_ids(dm: LanguageModelDataModule) -> torch.Tensor:
    return torch.cat([dm.ids[split] for split in SPLITS])


TOO_SHORT = "fewer than data.seq_len+1"  # the one refusal of well-formed text: a slice without enough words


def check_text_file(file: Path, content: bytes, options: dict) -> None:
    """UTF-8 text loads, its splits one after another holding exactly its lines' ids, unless a slice is
    too short; anything else is refused as not UTF-8, naming the file."""
    result = set_up(file, **options)
    if isinstance(result, str):
        assert str(file) in result, result
        assert (TOO_SHORT if is_utf8(content) else "not valid UTF-8") in result, result
    else:
        assert is_utf8(content)
        assert torch.equal(all_ids(result), ids_of(result, lines_of(content)))


@given(FILE_BYTES, OPTIONS)
@settings(FUZZ, max_examples=150)
def test_fuzzed_text_files(content, options):
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "book.txt"
        file.write_bytes(content)
        check_text_file(file, content, options)


WELL_FORMED = st.builds(
    lambda lines, newline, bom: (("\ufeff" if bom else "") + newline.join(lines)).encode(),
    st.lists(st.one_of(*[SENTENCES] * 5, st.lists(ODD, max_size=3).map(" ".join)), min_size=60, max_size=120),
    st.sampled_from(["\n", "\r\n", "\r"]), st.booleans(),
)


@given(WELL_FORMED, st.integers(1, 5), st.sampled_from([(0.6, 0.2, 0.2), (0.34, 0.33, 0.33)]))
@settings(FUZZ, max_examples=60)
def test_well_formed_text_files_always_load_exactly(content, seq_len, fractions):
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "book.txt"
        file.write_bytes(content)
        dm = set_up(file, num_words=30, seq_len=seq_len, split_fractions=fractions)
        assert not isinstance(dm, str), dm
        assert torch.equal(all_ids(dm), ids_of(dm, lines_of(content)))


SPLIT_NAMES = st.sampled_from([
    ("wiki.train.raw", "wiki.valid.raw", "wiki.test.raw"), ("train.txt", "validation.txt", "test.txt"),
])


@given(st.lists(FILE_BYTES, min_size=3, max_size=3), SPLIT_NAMES)
@settings(FUZZ, max_examples=60)
def test_fuzzed_split_files(contents, names):
    with tempfile.TemporaryDirectory() as folder:
        files = [Path(folder) / name for name in names]
        for file, content in zip(files, contents):
            file.write_bytes(content)
        result = set_up(Path(folder), num_words=30)
        if isinstance(result, str):
            # a file read before a file that is not UTF-8 may be refused first as too short
            named = [file for file in files if str(file) in result]
            assert len(named) == 1, result
            valid = is_utf8(contents[files.index(named[0])])
            assert (TOO_SHORT if valid else "not valid UTF-8") in result, result
        else:  # each split is its own file, whole
            assert all(map(is_utf8, contents))
            for split, content in zip(SPLITS, contents):
                assert torch.equal(result.ids[split], ids_of(result, lines_of(content))), split


# a table cell: `...` leaves the key out of a JSON line
TEXT_CELLS = st.one_of(st.none(), st.just(""), st.just("   "), st.just(...), *[SENTENCES] * 4, MIXED)
CELLS = st.one_of(
    TEXT_CELLS, st.integers(-5, 10**12), st.floats(allow_nan=True), st.booleans(),
    st.lists(WORDS, max_size=3), st.dictionaries(st.sampled_from(["a", "b"]), WORDS, max_size=2),
)
COLUMNS = st.one_of(st.lists(TEXT_CELLS, min_size=20, max_size=60), st.lists(TEXT_CELLS, min_size=20, max_size=60),
                    st.lists(CELLS, max_size=30))


def write_jsonl(file: Path, rows: list, broken: bool) -> None:
    lines = [json.dumps({"n": i} if cell is ... else {"text": cell, "n": i}) for i, cell in enumerate(rows)]
    if broken:
        lines.insert(len(lines) // 2, '{"text": "unterminated')
    file.write_text("\n".join(lines) + "\n")


def write_csv(file: Path, rows: list, broken: bool) -> None:
    with open(file, "w", newline="", encoding="utf-8", errors="surrogatepass") as out:
        writer = csv.writer(out)
        writer.writerow(["n", "text"])
        for i, cell in enumerate(rows):
            writer.writerow([i] if cell is ... else [i, "" if cell is None else cell])
    if broken:
        with open(file, "ab") as out:
            out.write(b'7,"unbalanced\xff quote\n8,\n')


def write_parquet(file: Path, rows: list, broken: bool) -> None:
    cells = [None if cell is ... else cell for cell in rows]
    try:
        pq.write_table(pa.table({"text": pa.array(cells)}), file)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):  # mixed types, empty dicts: as text
        pq.write_table(pa.table({"text": pa.array([None if cell is None else str(cell) for cell in cells])}), file)
    if broken:
        file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "parquet": write_parquet}
BROKEN = {"jsonl": "is not valid JSON", "csv": "not valid UTF-8", "parquet": "cannot be read as parquet"}


@given(st.sampled_from(sorted(WRITERS)), COLUMNS, st.sampled_from([False, False, False, True]),
       st.sampled_from(["text", "text", "text", "body"]), st.integers(1, 3))
@settings(FUZZ, max_examples=100)
def test_fuzzed_tables(extension, rows, broken, column, seq_len):
    """Cells missing, empty, blank, or not text; files cut short or malformed; the wrong column."""
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / f"book.{extension}"
        WRITERS[extension](file, rows, broken)
        result = set_up(file, num_words=30, seq_len=seq_len, text_column=column, split_fractions=(0.6, 0.2, 0.2))
        texts_only = all(cell is None or cell is ... or isinstance(cell, str) for cell in rows)
        if isinstance(result, str):
            assert str(file) in result, result
            if broken:
                assert BROKEN[extension] in result, result
            elif not rows:
                assert "is empty (no rows)" in result, result
            elif column != "text":
                assert "body" in result, result  # the missing column is named
            elif texts_only and any(isinstance(c, str) and c.strip() for c in rows):
                assert TOO_SHORT in result, result
        else:
            assert column == "text" and not broken
            if texts_only:  # the non-blank cells, in order
                assert torch.equal(all_ids(result), ids_of(result, [c for c in rows if isinstance(c, str)]))
