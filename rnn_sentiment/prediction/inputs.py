"""Reading the texts to classify as a stream of rows: a text file (one text per line), CSV, JSON Lines,
Parquet, or standard input. Nothing is read ahead of what the caller asks for, so memory stays flat
on inputs of any length, and a malformed row stops the run with its file and line in the message."""

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import pyarrow
import pyarrow.parquet

from rnn_sentiment.core.errors import UserInputError, check_choice
from rnn_sentiment.core.sources import utf8_lines

FORMATS = ("txt", "csv", "jsonl", "parquet")
SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
STDIN = "-"

# one CSV cell may hold a whole book; the csv module's default limit is 128 KiB
csv.field_size_limit(2**31 - 1)


class InputRow(NamedTuple):
    """One text to classify. `position`: 0-based, the row's place in the input (a text file's line
    number - 1, a table's record number, as pandas numbers them); `key`: what the output names the
    row by (`position`, or the value of the id column); `note`: `missing` (no cell, or null) or
    `not a string` (a number or other value, read as its text), else empty."""

    position: int
    key: object
    text: str
    note: str = ""


def input_format(file: str, format: str | None) -> str:
    """The reader to use: `format=` if given, else the file's suffix (any other suffix, and standard
    input, are read as plain text, one text per line)."""
    if format is not None:
        check_choice("format", format, FORMATS)
        return format
    return "txt" if file == STDIN else SUFFIX_FORMATS.get(Path(file).suffix.lower(), "txt")


def read_rows(file: str, format: str, column: str, id_column: str | None) -> Iterator[InputRow]:
    """The rows of `file` (`-`: standard input) in order; a generator, so errors surface as rows are read."""
    if format == "txt" and id_column is not None:
        raise UserInputError(f"id_column={id_column}: a text file has no columns; use a CSV, JSON Lines or "
                             "Parquet file, or leave id_column unset to number the lines")
    if file == STDIN:
        if format == "parquet":
            raise UserInputError("file=-: Parquet cannot be streamed from standard input; give its path")
        return _read_stream(sys.stdin.buffer, "<stdin>", format, column, id_column)
    path = Path(file).expanduser().resolve()
    if not path.is_file():
        raise UserInputError(f"file={file}: no such file ({path}); check the path, or use file=- for standard input")
    if format == "parquet":
        return _parquet_rows(path, column, id_column)
    return _read_file(path, format, column, id_column)


def _read_file(path: Path, format: str, column: str, id_column: str | None) -> Iterator[InputRow]:
    with path.open("rb") as stream:
        yield from _read_stream(stream, str(path), format, column, id_column)


def _read_stream(stream: BinaryIO, where: str, format: str, column: str, id_column: str | None) -> Iterator[InputRow]:
    lines = utf8_lines(stream, where)
    if format == "txt":
        return (InputRow(i, i, line.rstrip("\r\n")) for i, line in enumerate(lines))
    if format == "csv":
        return _csv_rows(lines, where, column, id_column)
    return _jsonl_rows(lines, where, column, id_column)


def _cell(value) -> tuple[str, str]:
    """A table cell as (text, note)."""
    if value is None:
        return "", "missing"
    if isinstance(value, str):
        return value, ""
    return str(value), "not a string"


def _require(column: str, columns: Iterable[str], where: str, option: str) -> None:
    columns = list(columns)
    if column not in columns:
        shown = ", ".join(repr(c) for c in columns[:20]) + (", …" if len(columns) > 20 else "")
        raise UserInputError(f"{where}: no column {column!r} (columns: {shown}); set {option}= to one of them")


def _csv_rows(lines: Iterator[str], where: str, column: str, id_column: str | None) -> Iterator[InputRow]:
    """Records after the header; blank lines are not records (as in pandas), short records have missing cells."""
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise UserInputError(f"{where}: empty, not even a header row; the first line names the columns")
        _require(column, header, where, "column")
        text_at = header.index(column)
        if id_column is not None:
            _require(id_column, header, where, "id_column")
        id_at = header.index(id_column) if id_column is not None else None
        position = 0
        for record in reader:
            if not record:
                continue
            text, note = (record[text_at], "") if text_at < len(record) else ("", "missing")
            key = position if id_at is None else (record[id_at] if id_at < len(record) else "")
            yield InputRow(position, key, text, note)
            position += 1
    except csv.Error as error:
        raise UserInputError(
            f"{where}, line {reader.line_num}: broken CSV ({error}); a cell holding commas, quotes or line breaks "
            'must be quoted, with its quotes doubled ("a ""quoted"" word")'
        ) from None


def _jsonl_rows(lines: Iterator[str], where: str, column: str, id_column: str | None) -> Iterator[InputRow]:
    """One JSON object per line; blank lines are not records."""
    position = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as error:
            hint = " (a JSON array? convert it: jq -c '.[]' in.json > out.jsonl)" if line.lstrip().startswith("[") else ""
            raise UserInputError(f"{where}, line {number}: not valid JSON ({error}){hint}; "
                                 "JSON Lines holds one object per line") from None
        if not isinstance(record, dict):
            raise UserInputError(f"{where}, line {number}: a JSON {type(record).__name__}, not an object "
                                 f'like {{"{column}": "…"}}; JSON Lines holds one object per line')
        text, note = _cell(record.get(column))
        key = position if id_column is None else record.get(id_column)
        yield InputRow(position, key, text, note)
        position += 1


def _parquet_rows(path: Path, column: str, id_column: str | None) -> Iterator[InputRow]:
    try:
        table = pyarrow.parquet.ParquetFile(path)
    except (pyarrow.ArrowInvalid, OSError) as error:
        raise UserInputError(f"{path}: cannot be read as Parquet ({error})") from None
    names = table.schema_arrow.names
    _require(column, names, str(path), "column")
    if id_column is not None:
        _require(id_column, names, str(path), "id_column")
    wanted = [column] + ([id_column] if id_column not in (None, column) else [])
    position = 0
    for batch in table.iter_batches(batch_size=4096, columns=wanted):
        texts = batch.column(column).to_pylist()
        keys = batch.column(id_column).to_pylist() if id_column is not None else None
        for offset, value in enumerate(texts):
            text, note = _cell(value)
            yield InputRow(position, position if keys is None else keys[offset], text, note)
            position += 1
