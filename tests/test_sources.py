"""rnn_sentiment.core.sources on small hand-written files: what each JSON shape reads as, the
one-line errors' exact wording and line numbers, and how library messages are cut to one line.
(test_fuzz_sources.py throws generated files at the same readers; these pin the details.)"""

import json

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest

from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.sources import (JSON_HINT, _json_rows, label_ids_of, label_names_of, load_splits, one_line,
                                        read_utf8, text_batches_of, texts_of)

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


def classes(names: list[str]) -> datasets.Features:
    return datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})


def test_missing_columns_are_named_with_their_role_where_they_were_looked_for():
    split = datasets.Dataset.from_dict({"body": ["a"], "topic": ["x"]})
    with pytest.raises(UserInputError) as error:
        texts_of(split, ["title", "text"], "train.csv")
    assert str(error.value) == ("train.csv: no text column 'title' or 'text' (columns: body, topic); "
                                "set data.text_column to the right ones")
    for read in (lambda: label_names_of(split, "label", "train.csv"),
                 lambda: label_ids_of(split, "label", ["a", "b"], "train.csv")):
        with pytest.raises(UserInputError) as error:
            read()
        assert str(error.value) == "train.csv: no label column 'label' (columns: body, topic); set data.label_column to the right one"


def test_texts_join_their_columns_and_a_cell_that_is_not_text_names_its_row_type_and_column():
    split = datasets.Dataset.from_list([{"title": "a", "text": "b"}, {"title": "c", "text": None},
                                        {"title": " ", "text": None}])
    assert texts_of(split, ["title", "text"], "t.jsonl") == ["a b", "c", None]
    with pytest.raises(UserInputError) as error:
        texts_of(datasets.Dataset.from_dict({"t": [None, 7]}), "t", "t.jsonl")
    assert str(error.value) == ("t.jsonl: row 1 holds a int (7) in the text column 't', not a text; "
                                "fix that row or set data.text_column")
    with pytest.raises(UserInputError) as error:
        list(text_batches_of(datasets.Dataset.from_dict({"t": [None, None, 7.5]}), "t", "t.jsonl", batch_size=2))
    assert str(error.value) == ("t.jsonl: row 2 holds float '7.5' in column 't', not text; fix that row or set "
                                "data.text_column to a column of text")  # rows counted across batches


@pytest.mark.parametrize("values, names", [
    ([10, 9, 2, 9], ["2", "9", "10"]),  # numbers in numeric order
    (["pos", "neg", "Neutral"], ["Neutral", "neg", "pos"]),  # words in code-point order
    ([True, False, None], ["0", "1"]),  # booleans as 0 and 1; a missing label is not a class
])
def test_class_names_come_from_the_values(values, names):
    assert label_names_of(datasets.Dataset.from_dict({"label": values}), "label", "train.csv") == names


def test_a_label_that_is_not_a_number_or_word_and_a_single_class_are_refused():
    with pytest.raises(UserInputError) as error:
        label_names_of(datasets.Dataset.from_dict({"label": [[1], [2, 3]]}), "label", "train.jsonl")
    assert str(error.value) == ("train.jsonl: row 0 holds a list ([1]) in the label column 'label'; a label is a "
                                "number or a word: fix that row or set data.label_column")
    with pytest.raises(UserInputError) as error:
        label_names_of(datasets.Dataset.from_dict({"label": ["pos", "pos"]}), "label", "train.csv")
    assert str(error.value) == ("train.csv: column 'label' holds 1 class ('pos'); a classifier needs two or more: "
                                "give data.path rows of every class, or set data.label_column to the column of classes")
    with pytest.raises(UserInputError, match=r"holds 0 classes \(\); a classifier"):
        label_names_of(datasets.Dataset.from_dict({"label": [None, None]}), "label", "train.csv")


def test_label_ids_are_indices_into_the_training_classes():
    split = datasets.Dataset.from_dict({"label": [True, False, True]})
    assert label_ids_of(split, "label", ["0", "1"], "x").tolist() == [1.0, 0.0, 1.0]
    with pytest.raises(UserInputError) as error:
        label_ids_of(datasets.Dataset.from_dict({"label": ["pos", None]}), "label", ["neg", "pos"], "test.csv")
    assert str(error.value) == "test.csv: row 1 has no label in column 'label'; label it or remove the row"
    with pytest.raises(UserInputError) as error:
        label_ids_of(datasets.Dataset.from_dict({"label": ["pos", "meh"]}), "label", ["neg", "pos"], "test.csv")
    assert str(error.value) == ("test.csv: row 1 has label 'meh', not one of the training classes ('neg', 'pos'); "
                                "fix the label, add that class to the training split, or set data.label_column")


def test_class_label_ids_are_read_through_their_own_names(tmp_path):
    split = datasets.Dataset.from_list([{"text": "a", "label": 1}, {"text": "b", "label": -1}],
                                       features=classes(["pos", "neg"]))
    assert label_ids_of(split.select([0]), "label", ["neg", "pos"], "x").tolist() == [0.0]
    with pytest.raises(UserInputError) as error:
        label_ids_of(split, "label", ["neg", "pos"], "test.parquet")
    assert str(error.value) == ("test.parquet: row 1 has label -1, which `datasets` uses for an unlabelled row (a "
                                "hidden test split); point data.path at labelled splits only (a missing test split "
                                "is carved from train)")
    file = tmp_path / "beyond.parquet"  # a label one past the names: parquet keeps the ClassLabel, not the range
    split.select([0]).to_parquet(file)
    table = pq.read_table(file)
    table = table.set_column(table.schema.get_field_index("label"), "label", [np.array([2], dtype=np.int64)])
    pq.write_table(table, file)
    beyond = datasets.Dataset.from_parquet(str(file))
    with pytest.raises(UserInputError) as error:
        label_ids_of(beyond, "label", ["neg", "pos"], "beyond.parquet")
    assert str(error.value) == ("beyond.parquet: row 0 has label 2, beyond the 2 class names of its ClassLabel "
                                "('pos', 'neg'); fix the label or the file's ClassLabel")


def test_a_byte_order_mark_is_dropped_only_at_the_start_of_a_file(tmp_path):
    file = tmp_path / "bom.txt"
    file.write_bytes(b"\xef\xbb\xbfone\n\xef\xbb\xbftwo\n")
    assert read_utf8(file) == "one\n\ufefftwo\n"
    file.write_bytes(b"one\n\xfftwo\n")
    with pytest.raises(UserInputError) as error:
        read_utf8(file)
    assert str(error.value) == (f"{file}, line 2: not valid UTF-8 (byte 0xff at column 1); re-encode the file, "
                                "e.g. iconv -f latin1 -t utf-8")


def test_unsupported_and_empty_files_are_named(tmp_path):
    for name, content, message in (
        ("reviews.xlsx", "x", "unsupported file type '.xlsx'; use .parquet, .csv, .jsonl or .json"),
        ("reviews.jsonl", "\n \n", "the training split is empty (no rows); give a file with reviews"),
        ("reviews.json", "[]", "the training split is empty (no rows); give a file with reviews"),
    ):
        file = tmp_path / name
        file.write_text(content)
        with pytest.raises(UserInputError) as error:
            load_splits(file, "")
        assert str(error.value) == f"{file}: {message}"


def test_a_json_file_is_read_by_the_packages_own_reader(tmp_path):
    file = tmp_path / "reviews.json"  # two records, the second with a key the first lacks
    file.write_text(json.dumps([{"text": "a"}, {"text": "b", "label": 1}]))
    (split, where), = load_splits(file, "").values()
    assert split.to_list() == [{"text": "a", "label": None}, {"text": "b", "label": 1}] and where == str(file)


def test_an_aclimdb_folder_reads_its_class_folders_but_not_unsup(tmp_path):
    for split in ("train", "test"):
        for label, text in (("neg", "dull"), ("pos", "fine"), ("unsup", "unlabelled")):
            (tmp_path / split / label).mkdir(parents=True)
            (tmp_path / split / label / "0_1.txt").write_text(f"{text} {split}")
        (tmp_path / split / "urls.txt").write_text("not a class")
    splits = load_splits(tmp_path, "")
    assert splits["train"][0].to_dict() == {"text": ["dull train", "fine train"], "label": ["neg", "pos"]}
    assert splits["test"][0].to_dict() == {"text": ["dull test", "fine test"], "label": ["neg", "pos"]}


def test_save_to_disk_folders_give_their_splits_and_name_what_is_wrong(tmp_path):
    one = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})
    one.save_to_disk(str(tmp_path / "one"))
    assert {name: where for name, (_, where) in load_splits(tmp_path / "one", "").items()} == {
        "train": str(tmp_path / "one")}
    datasets.DatasetDict({"validation": one, "test": one}).save_to_disk(str(tmp_path / "no_train"))
    with pytest.raises(UserInputError) as error:
        load_splits(tmp_path / "no_train", "")
    assert str(error.value) == (f"{tmp_path / 'no_train'}: the saved dataset has no train split (splits: validation, "
                                "test); save one")


def test_a_folders_split_files_must_be_one_each_with_a_training_file(tmp_path):
    frame = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})
    (tmp_path / "two").mkdir()
    frame.to_csv(tmp_path / "two" / "train.csv")
    frame.to_parquet(tmp_path / "two" / "train.parquet")
    with pytest.raises(UserInputError) as error:
        load_splits(tmp_path / "two", "")
    assert str(error.value) == f"{tmp_path / 'two'}: several files for the train split (train.csv, train.parquet); keep one"
    (tmp_path / "none").mkdir()
    frame.to_csv(tmp_path / "none" / "test.csv")
    with pytest.raises(UserInputError) as error:
        load_splits(tmp_path / "none", "")
    assert str(error.value) == (f"data.path={tmp_path / 'none'}: no train.parquet, train.csv or train.jsonl, and no "
                                "train/ folder; name the training file train.<ext> or point data.path at a single file")


def test_a_hub_dataset_that_cannot_be_loaded_says_what_to_do_offline(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'someone/reviews' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserInputError) as error:
        load_splits(None, "someone/reviews")
    assert str(error.value) == ("cannot load the Hub dataset 'someone/reviews' (ConnectionError); when offline, set "
                                "data.path to a local copy (see docs/getting-started.md: offline data)")


def test_columns_are_named_with_their_spaces_collapsed_and_the_place_read():
    split = datasets.Dataset.from_dict({"the  review": ["a"], "stars": [1]})
    with pytest.raises(UserInputError) as error:
        list(text_batches_of(split, "text", "train.csv [train]"))
    assert str(error.value) == ("train.csv [train]: no text column 'text' (columns: the review, stars); "
                                "set data.text_column to the right one")


def test_an_unreadable_saved_dataset_is_named(tmp_path):
    datasets.Dataset.from_dict({"text": ["a"]}).save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "saved" / "state.json").write_text("{not json")
    with pytest.raises(UserInputError) as error:
        load_splits(tmp_path / "saved", "")
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'saved'}: cannot be read as a saved dataset: ") and "\n" not in message
    assert message.endswith("; save it again") and "None" not in message
