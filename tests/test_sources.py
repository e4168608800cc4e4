"""rnn_sentiment.core.sources on small hand-written files: what each JSON shape reads as, the
one-line errors' exact wording and line numbers, and how library messages are cut to one line.
(test_fuzz_sources.py throws generated files at the same readers; these pin the details.)"""

import json

import pytest

from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.sources import JSON_HINT, _json_rows, one_line

ROWS = [{"text": "a fine film", "label": 1}, {"text": "dull", "label": 0}]


@pytest.mark.parametrize("name, content", [
    ("rows.jsonl", "\n".join(json.dumps(row) for row in ROWS) + "\n"),
    ("rows.jsonl", "\n\n" + json.dumps(ROWS[0]) + "\n   \n" + json.dumps(ROWS[1])),  # blank lines anywhere
    ("rows.json", json.dumps(ROWS)),  # one array of objects
    ("rows.JSON", json.dumps(ROWS, indent=2)),  # the suffix in any case, the array over several lines
    ("rows.json", "\n".join(json.dumps(row) for row in ROWS)),  # JSON lines in a .json file
])
def test_json_files_read_as_their_records(tmp_path, name, content):
    file = tmp_path / name
    file.write_text(content)
    assert _json_rows(file) == ROWS


def test_a_json_file_of_one_object_is_one_record(tmp_path):
    file = tmp_path / "one.json"
    file.write_text(json.dumps(ROWS[0], indent=2))
    assert _json_rows(file) == [ROWS[0]]


def test_an_indented_object_in_a_jsonl_file_is_not_one_record(tmp_path):
    file = tmp_path / "one.jsonl"  # only .json files may hold one document over several lines
    file.write_text(json.dumps(ROWS[0], indent=2))
    with pytest.raises(UserInputError, match=r": line 1 is not valid JSON \("):
        _json_rows(file)


@pytest.mark.parametrize("line, kind", [
    ("[1, 2]", "array"), ('"text"', "string"), ("true", "boolean"), ("null", "null"), ("3.5", "number"), ("7", "number"),
])
def test_a_line_that_is_json_but_not_an_object_names_its_kind_and_line(tmp_path, line, kind):
    file = tmp_path / "rows.jsonl"
    file.write_text(json.dumps(ROWS[0]) + "\n\n" + line + "\n")
    with pytest.raises(UserInputError) as error:
        _json_rows(file)
    assert str(error.value) == f"{file}: line 3 is a JSON {kind}, not an object; {JSON_HINT}"


def test_a_json_array_holding_a_non_object_is_read_line_by_line_and_refused(tmp_path):
    file = tmp_path / "rows.json"
    file.write_text(json.dumps([ROWS[0], 5]))
    with pytest.raises(UserInputError, match=r": line 1 is a JSON array, not an object"):
        _json_rows(file)


def test_a_line_that_is_not_json_is_named_with_the_parsers_reason(tmp_path):
    file = tmp_path / "rows.jsonl"
    file.write_text(json.dumps(ROWS[0]) + "\n" + '{"text": "unterminated' + "\n")
    with pytest.raises(UserInputError) as error:
        _json_rows(file)
    message = str(error.value)
    assert message.startswith(f"{file}: line 2 is not valid JSON (Unterminated string starting at: line 1 column 10")
    assert message.endswith(f"); {JSON_HINT}") and "\n" not in message


def test_one_line_joins_a_messages_lines_and_cuts_it_at_the_limit():
    assert one_line(ValueError("first line\n  second\tline\n")) == "first line second line"
    assert one_line(ValueError("")) == "ValueError"
    long = ValueError("x" * 400)
    assert one_line(long) == "x" * 299 + "…" and len(one_line(long)) == 300
    assert one_line(long, 80) == "x" * 79 + "…"
    assert one_line(ValueError("y" * 80), 80) == "y" * 80  # at the limit: whole
