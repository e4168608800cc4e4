"""Reading labelled text splits from the Hub, a folder of split files, one file, or an aclImdb tree."""

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

logging.getLogger("datasets").setLevel(logging.WARNING)  # before its import, which announces TensorFlow at INFO
import datasets  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from rnn_sentiment.core.errors import UserInputError

FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".json": "json"}
SPLITS = ("train", "validation", "test")


def resolve(path: str | None, option: str = "data.path") -> Path | None:
    """`path` made absolute, None for None (the default download); a `UserInputError` naming
    `option` when nothing is there."""
    if path is None:
        return None
    resolved = Path(path).expanduser().resolve()
    if not resolved.exists():
        raise UserInputError(
            f"{option}={path}: no such file or folder ({resolved}); check the path, "
            f"or leave {option} unset to use the default download"
        )
    return resolved


def local_files(root: Path) -> list[Path]:
    """`root` itself when it is a file, else every file below it, sorted."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file())


def fingerprint(root: Path | None, hub_name: str) -> str:
    """Changes when any data file changes (path, size, modification time), without reading it."""
    if root is None:
        return f"hub:{hub_name}"
    digest = hashlib.sha256()
    for file in local_files(root):
        stat = file.stat()
        digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def one_line(error: BaseException, limit: int = 300) -> str:
    """A library's error message on one line (they end in newlines or span several), at most `limit` characters."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def utf8_lines(stream: BinaryIO, where: str) -> Iterator[str]:
    """The lines of a UTF-8 byte stream, split at `\\n` only, each with its line ending, a leading BOM
    dropped; the first invalid byte stops it with one line naming `where`, the line and the column."""
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise UserInputError(
                f"{where}, line {number}: not valid UTF-8 (byte 0x{raw[error.start]:02x} at column "
                f"{error.start + 1}); re-encode the file, e.g. iconv -f latin1 -t utf-8"
            ) from None
        yield line


def _check_utf8(file: Path) -> None:
    """Rejects a text file that is not UTF-8, naming the line: pyarrow's JSON reader lets invalid bytes into
    its strings, which then fail far from the file."""
    with file.open("rb") as stream:
        for _ in utf8_lines(stream, str(file)):
            pass


JSON_HINT = 'write one JSON object per line, e.g. {"text": "...", "label": 1}'


def _json_rows(file: Path) -> list[dict]:
    """The records of a JSON-lines file (one object per line), or of a .json file holding one array of
    objects or one object. Parsed here, not by pyarrow's JSON reader (what `datasets` uses), which
    crashes the whole process (a segmentation fault) on some malformed files."""
    text = read_utf8(file)
    if file.suffix.lower() == ".json":
        try:
            whole = json.loads(text)
        except ValueError:
            whole = None  # JSON lines in a .json file
        if isinstance(whole, dict):
            return [whole]
        if isinstance(whole, list) and all(isinstance(row, dict) for row in whole):
            return whole
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as error:
            raise UserInputError(f"{file}: line {number} is not valid JSON ({one_line(error, 80)}); {JSON_HINT}") from None
        if not isinstance(value, dict):
            kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
            raise UserInputError(f"{file}: line {number} is a JSON {kind}, not an object; {JSON_HINT}")
        rows.append(value)
    return rows


def _parquet_rows(file: Path) -> int | None:
    """The rows a parquet file's footer declares; None when it cannot be read (loading it names why)."""
    try:
        return pq.ParquetFile(file).metadata.num_rows
    except Exception:
        return None


def _load_file(file: Path) -> datasets.Dataset:
    builder = FORMATS.get(file.suffix.lower())
    if builder is None:
        raise UserInputError(
            f"{file}: unsupported file type {file.suffix!r}; use .parquet, .csv, .jsonl or .json"
        )
    if builder == "csv":
        _check_utf8(file)
    rows = _json_rows(file) if builder == "json" else None
    if rows == [] or (builder == "parquet" and _parquet_rows(file) == 0):
        raise UserInputError(f"{file}: the training split is empty (no rows); give a file with reviews")
    try:
        if rows is not None:  # every key of any row is a column (from_list keeps the first row's keys only)
            columns = dict.fromkeys(key for row in rows for key in row)
            return datasets.Dataset.from_dict({key: [row.get(key) for row in rows] for key in columns})
        return datasets.load_dataset(builder, data_files=str(file), split="train")
    except ValueError as error:  # before reading a row
        if "no data" in str(error):
            raise UserInputError(f"{file}: the training split is empty (no rows); give a file with reviews") from error
        failure = error
    except Exception as error:  # pyarrow, pandas and datasets errors differ by format and version
        failure = error
    cause = failure.__cause__ or failure
    raise UserInputError(f"{file}: cannot be read as {builder}: {one_line(cause)}; fix the file or convert it") from failure


def read_utf8(file: Path) -> str:
    """The whole of `file` as text; a `UserInputError` naming the line of a byte that is not UTF-8."""
    with file.open("rb") as stream:
        return "".join(utf8_lines(stream, str(file)))


def _read_acl_folder(split_dir: Path) -> datasets.Dataset:
    texts, labels = [], []
    for class_dir in sorted(d for d in split_dir.iterdir() if d.is_dir() and d.name != "unsup"):
        for file in sorted(class_dir.glob("*.txt")):
            texts.append(read_utf8(file))
            labels.append(class_dir.name)
    return datasets.Dataset.from_dict({"text": texts, "label": labels})


def _saved_dataset(root: Path) -> dict[str, tuple[datasets.Dataset, str]]:
    """The splits of a `save_to_disk` folder: a DatasetDict's `train`/`validation`/`test`, or one
    Dataset as the training split."""
    try:
        saved = datasets.load_from_disk(str(root))
    except Exception as error:
        raise UserInputError(f"{root}: cannot be read as a saved dataset: {one_line(error)}; save it again") from error
    if isinstance(saved, datasets.Dataset):
        return {"train": (saved, str(root))}
    if "train" not in saved:
        raise UserInputError(f"{root}: the saved dataset has no train split (splits: {', '.join(saved)}); save one")
    return {name: (split, f"{root} [{name}]") for name, split in saved.items() if name in SPLITS}


def load_splits(
    root: Path | None, hub_name: str, hub_config: str | None = None
) -> dict[str, tuple[datasets.Dataset, str]]:
    """The splits found at `root` (or on the Hub, in its `hub_config`): `train`, maybe `validation` and `test`.

    Each split comes with where it was read from, for error messages.
    """
    if root is None:
        try:
            loaded = datasets.load_dataset(hub_name, hub_config)
        except Exception as error:
            configs = re.search(r"(?:available configs|Available): (\[.*?\])", str(error))
            if configs:  # no config, or one the dataset lacks
                problem = "has several configs" if hub_config is None else f"has no config {hub_config!r}"
                raise UserInputError(
                    f"the Hub dataset {hub_name!r} {problem}; choose one with data.hub_config ({configs.group(1)})"
                ) from error
            raise UserInputError(
                f"cannot load the Hub dataset {hub_name!r} ({type(error).__name__}); "
                "when offline, set data.path to a local copy (see docs/getting-started.md: offline data)"
            ) from error
        return {name: (split, f"{hub_name} [{name}]") for name, split in loaded.items() if name in SPLITS}
    if root.is_file():
        return {"train": (_load_file(root), str(root))}
    if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file():
        return _saved_dataset(root)
    if (root / "train").is_dir():
        return {s: (_read_acl_folder(root / s), str(root / s)) for s in SPLITS if (root / s).is_dir()}
    splits = {}
    for split in SPLITS:
        candidates = [p for p in root.glob(f"{split}.*") if p.suffix.lower() in FORMATS]
        if len(candidates) > 1:
            names = ", ".join(sorted(p.name for p in candidates))
            raise UserInputError(f"{root}: several files for the {split} split ({names}); keep one")
        if candidates:
            splits[split] = (_load_file(candidates[0]), str(candidates[0]))
    if "train" not in splits:
        raise UserInputError(
            f"data.path={root}: no train.parquet, train.csv or train.jsonl, and no train/ folder; "
            "name the training file train.<ext> or point data.path at a single file"
        )
    return splits


def _require_columns(split: datasets.Dataset, columns: dict[str, str], where: str) -> None:
    """A `UserInputError` naming every column of `columns` (column → its kind, `text` or `label`)
    that `split` lacks, the columns it has, and the options to set."""
    missing = {column: kind for column, kind in columns.items() if column not in split.column_names}
    if missing:
        have = ", ".join(" ".join(name.split()) for name in split.column_names)
        kinds = list(dict.fromkeys(missing.values()))
        lacks = " and ".join(
            f"no {kind} column {' or '.join(repr(c) for c, k in missing.items() if k == kind)}" for kind in kinds
        )
        options = " and ".join(f"data.{kind}_column" for kind in kinds)
        raise UserInputError(
            f"{where}: {lacks} (columns: {have}); set {options} to the right one{'s' * (len(missing) > 1)}"
        )


def text_columns(column: str | list[str]) -> list[str]:
    """`data.text_column` as a list: one column, or several joined in order (`[title,description]`)."""
    return [column] if isinstance(column, str) else [str(name) for name in column]


def check_columns(split: datasets.Dataset, text_column: str | list[str], label_column: str, where: str) -> None:
    """One `UserInputError` naming every missing text and label column at once."""
    columns = dict.fromkeys(text_columns(text_column), "text")
    _require_columns(split, {**columns, label_column: "label"}, where)


def texts_of(split: datasets.Dataset, column: str | list[str], where: str) -> list[str | None]:
    """The text of each row: `column`, or several columns' cells joined by a space in order. None
    for a row whose cells are all empty or missing; a `UserInputError` naming the first row that
    holds something other than a text."""
    columns = text_columns(column)
    _require_columns(split, dict.fromkeys(columns, "text"), where)
    cells = [list(split[name]) for name in columns]
    texts = []
    for row, values in enumerate(zip(*cells)):
        for name, value in zip(columns, values):
            if value is not None and not isinstance(value, str):
                raise UserInputError(
                    f"{where}: row {row} holds a {type(value).__name__} ({value!r:.40}) in the text column {name!r}, "
                    "not a text; fix that row or set data.text_column"
                )
        joined = " ".join(value for value in values if value and value.strip())
        texts.append(joined or None)
    return texts


def text_batches_of(split: datasets.Dataset, column: str, where: str, batch_size: int = 10_000):
    """The texts of `column`, a batch of rows at a time, with blank and missing cells skipped
    (real text datasets, WikiText among them, have many)."""
    _require_columns(split, {column: "text"}, where)
    row = 0
    for batch in split.select_columns([column]).iter(batch_size=batch_size):
        texts = []
        for text in batch[column]:
            if text is not None and not isinstance(text, str):
                raise UserInputError(
                    f"{where}: row {row} holds {type(text).__name__} {str(text)[:40]!r} in column {column!r}, "
                    "not text; fix that row or set data.text_column to a column of text"
                )
            if text and text.strip():
                texts.append(text)
            row += 1
        yield texts


def label_names_of(split: datasets.Dataset, column: str, where: str) -> list[str]:
    """The class names, in id order, taken from the training split: a ClassLabel's names; else the
    distinct values, numbers in numeric order (0/1 stays `0`, `1`), words in code-point order."""
    _require_columns(split, {column: "label"}, where)
    feature = split.features[column]
    if isinstance(feature, datasets.ClassLabel):
        names = list(feature.names)
    else:
        values = split[column]
        for row, value in enumerate(values):
            if value is not None and not isinstance(value, (str, int, float)):
                raise UserInputError(
                    f"{where}: row {row} holds a {type(value).__name__} ({value!r:.40}) in the label column "
                    f"{column!r}; a label is a number or a word: fix that row or set data.label_column"
                )
        distinct = {int(v) if isinstance(v, bool) else v for v in values if v is not None}
        numbers = all(isinstance(v, (int, float)) for v in distinct)
        names = [str(v) for v in sorted(distinct, key=(lambda v: v) if numbers else str)]
    if len(names) < 2:
        raise UserInputError(
            f"{where}: column {column!r} holds {len(names)} class{'es' * (len(names) != 1)} "
            f"({', '.join(map(repr, names))}); a classifier needs two or more: give data.path rows of every class, "
            "or set data.label_column to the column of classes"
        )
    return names


def label_ids_of(split: datasets.Dataset, column: str, names: list[str], where: str) -> np.ndarray:
    """Each row's label as its index in `names` (float32, shape (rows,)); a ClassLabel id is read
    through the split's own class names. A `UserInputError` names the first row whose label is
    missing or not one of `names`."""
    _require_columns(split, {column: "label"}, where)
    index = {name: i for i, name in enumerate(names)}
    ids = np.empty(len(split), dtype=np.float32)
    feature = split.features[column]
    own = feature.names if isinstance(feature, datasets.ClassLabel) else None
    for row, value in enumerate(split[column]):
        if value is None:
            raise UserInputError(f"{where}: row {row} has no label in column {column!r}; label it or remove the row")
        if own is not None and value == -1:
            raise UserInputError(
                f"{where}: row {row} has label -1, which `datasets` uses for an unlabelled row (a hidden test "
                "split); point data.path at labelled splits only (a missing test split is carved from train)"
            )
        if own is not None and not 0 <= value < len(own):
            raise UserInputError(
                f"{where}: row {row} has label {value!r}, beyond the {len(own)} class names of its ClassLabel "
                f"({', '.join(map(repr, own))}); fix the label or the file's ClassLabel"
            )
        key = own[value] if own is not None else str(int(value) if isinstance(value, bool) else value)
        if key not in index:
            raise UserInputError(
                f"{where}: row {row} has label {key!r}, not one of the training classes "
                f"({', '.join(map(repr, names))}); fix the label, add that class to the training split, "
                "or set data.label_column"
            )
        ids[row] = index[key]
    return ids
