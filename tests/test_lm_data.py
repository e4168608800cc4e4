"""Where the language model's text comes from: split files, tables, the Hub, one text cut into slices."""

import json

import datasets
import numpy as np
import pandas as pd
import pytest
import torch

from conftest import compose_config
from lm.data import LanguageModelDataModule
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.text import WordTokenizer
from rnn_sentiment.core.training import instantiate_config

WIKI_TRAIN = """
 = Valkyria Chronicles III = 

 Senjō no Valkyria 3 is a tactical role @-@ playing video game .
 The game began development in 2010 , carrying over a large portion of the work .

 = = Gameplay = = 

 The game 's battle system , the BliTZ system , is carried over directly .
"""
WIKI_VALID = "\n = Homarus gammarus = \n\n Homarus gammarus is a large crustacean .\n\n"
WIKI_TEST = "\n = Robert Boulter = \n\n Robert Boulter is an English film actor .\n"


def words(dm: LanguageModelDataModule, split: str) -> str:
    return dm.tokenizer.decode(dm.ids[split].tolist())


def lm_data(path, **options) -> LanguageModelDataModule:
    dm = LanguageModelDataModule(path=str(path), num_words=1000, **options)
    dm.setup("fit")
    return dm


@pytest.mark.parametrize("names", [
    ("wiki.train.raw", "wiki.valid.raw", "wiki.test.raw"),
    ("train.txt", "validation.txt", "test.txt"),
    ("train.txt", "valid.txt", "test.txt"),
])
def test_wikitext_shaped_split_files_are_the_splits(tmp_path, names):
    for name, text in zip(names, (WIKI_TRAIN, WIKI_VALID, WIKI_TEST)):
        (tmp_path / name).write_text(text)
    (tmp_path / "README.txt").write_text("not part of any split")
    dm = lm_data(tmp_path)
    assert words(dm, "train").startswith("valkyria chronicles iii senjō no valkyria 3 is a tactical role playing")
    assert words(dm, "train").endswith("the blitz system is carried over directly")
    # the tokenizer saw only the training file: words new in validation and test are unknown
    assert words(dm, "val") == "[UNK] [UNK] [UNK] [UNK] is a large [UNK]"
    assert words(dm, "test") == "[UNK] [UNK] [UNK] [UNK] is [UNK] [UNK] [UNK] [UNK]"
    assert "readme" not in dm.tokenizer.id_to_word


def test_a_missing_validation_file_is_cut_from_the_end_of_train(tmp_path):
    (tmp_path / "train.txt").write_text("\n\n".join(f"line{i:03d} word" for i in range(100)))
    (tmp_path / "test.txt").write_text("word word word\n")
    dm = lm_data(tmp_path, split_fractions=[0.8, 0.1, 0.1])  # train:val = 8:1 of the training file
    numbers = [int(w[4:]) for w in words(dm, "train").split() if w.startswith("line")]
    assert numbers == list(range(88))
    assert words(dm, "val").split()[1::2] == ["word"] * 12
    assert words(dm, "test") == "word word word"


def test_validation_without_a_train_file_is_refused(tmp_path):
    (tmp_path / "wiki.valid.raw").write_text(WIKI_VALID)
    (tmp_path / "wiki.test.raw").write_text(WIKI_TEST)
    with pytest.raises(UserInputError, match="wiki.valid.raw, wiki.test.raw but no training file"):
        lm_data(tmp_path)


ROWS = ["The ship sailed.", None, "", "   ", "The whale swam!", "Call me Ishmael", None] * 20


@pytest.mark.parametrize("extension", ["parquet", "csv", "jsonl"])
def test_tables_with_a_text_column_skip_empty_rows(tmp_path, extension):
    frame = pd.DataFrame({"id": range(len(ROWS)), "body": ROWS})
    file = tmp_path / f"book.{extension}"
    {"parquet": frame.to_parquet, "csv": lambda f: frame.to_csv(f, index=False),
     "jsonl": lambda f: frame.to_json(f, orient="records", lines=True)}[extension](file)
    dm = lm_data(file, text_column="body", split_fractions=[0.8, 0.1, 0.1])
    text = " ".join(words(dm, split) for split in ("train", "val", "test"))
    assert text == " ".join(["the ship sailed the whale swam call me ishmael"] * 20)


def test_json_lines_whose_first_rows_lack_the_text_key_keep_the_column(tmp_path):
    file = tmp_path / "book.jsonl"
    file.write_text("\n".join(['{"id": 0}', '{"id": 1, "body": null}',
                               *(json.dumps({"id": i + 2, "body": row}) for i, row in enumerate(ROWS))]) + "\n")
    dm = lm_data(file, text_column="body", split_fractions=[0.8, 0.1, 0.1])
    text = " ".join(words(dm, split) for split in ("train", "val", "test"))
    assert text == " ".join(["the ship sailed the whale swam call me ishmael"] * 20)


def test_a_folder_of_split_tables(tmp_path):
    for split, rows in (("train", ROWS), ("validation", ["the ship", ""]), ("test", [None, "the whale"])):
        pd.DataFrame({"text": rows}).to_parquet(tmp_path / f"{split}.parquet")
    dm = lm_data(tmp_path)
    assert (words(dm, "val"), words(dm, "test")) == ("the ship", "the whale")


def test_a_column_that_is_not_text_names_the_row(tmp_path):
    file = tmp_path / "numbers.jsonl"
    file.write_text('{"text": null}\n{"text": 17}\n')
    with pytest.raises(UserInputError, match=r"numbers.jsonl: row 1 holds int '17' in column 'text', not text"):
        lm_data(file)
    with pytest.raises(UserInputError, match="no text column 'body'"):
        lm_data(file, text_column="body")


def test_one_text_is_still_cut_as_before(tmp_path):
    """Reference: the whole text split into lines (`str.splitlines`), blank ones dropped, cut at the
    line ends nearest to the split fractions of its characters, the tokenizer fitted on the first slice."""
    lines = ["Call me Ishmael.", "", "  ", "The ship\x0csailed,\u2028and the whale", "swam\runder the ship!"]
    text = "\ufeff" + "\r\n".join(f"{line} {i}" if line.strip() else line for i, line in enumerate(lines * 60))
    (tmp_path / "moby.txt").write_bytes(text.encode())
    dm = lm_data(tmp_path / "moby.txt", split_fractions=[0.7, 0.2, 0.1])

    kept = [line for line in text[1:].splitlines() if line.strip()]
    chars = np.cumsum([len(line) for line in kept])
    first, second = np.searchsorted(chars, np.cumsum([0.7, 0.2]) * chars[-1], side="right")
    reference = WordTokenizer.fit(kept[:first], 1000)
    for split, part in zip(("train", "val", "test"), (kept[:first], kept[first:second], kept[second:])):
        assert dm.ids[split].tolist() == [i for ids in reference.encode(part) for i in ids]
    assert dm.tokenizer.to_json() == reference.to_json()


def test_invalid_utf8_names_the_line(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("the ship\nthe whale\nthe café\n".encode("latin1"))
    with pytest.raises(UserInputError, match=r"latin1.txt, line 3: not valid UTF-8 \(byte 0xe9 at column 8\); re-encode"):
        lm_data(tmp_path / "latin1.txt")


def wikitext_like() -> datasets.DatasetDict:
    return datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["", WIKI_TRAIN.split("\n")[1] + "\n", "", " The game .\n"]}),
        "validation": datasets.Dataset.from_dict({"text": ["", " The crustacean game .\n", ""]}),
        "test": datasets.Dataset.from_dict({"text": [" Valkyria game .\n", ""]}),
    })


def test_hub_dataset_with_a_config_uses_its_own_splits(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: calls.append(args) or wikitext_like())
    cfg = compose_config("lm", tmp_path, ["data.hub_dataset=wikitext", "data.hub_config=wikitext-2-raw-v1",
                                          f"paths.cache_dir={tmp_path / 'cache'}"])
    dm = instantiate_config(cfg.data)
    dm.setup("fit")
    assert calls == [("wikitext", "wikitext-2-raw-v1")]
    assert words(dm, "train") == "valkyria chronicles iii the game"
    assert (words(dm, "val"), words(dm, "test")) == ("the [UNK] game", "valkyria game")


def test_hub_dataset_without_the_right_config(monkeypatch):
    """`datasets`' own messages (datasets/builder.py) when the config is missing or unknown."""
    configs = "['wikitext-103-raw-v1', 'wikitext-2-raw-v1']"

    def load_dataset(name, config=None):
        if config is None:
            raise ValueError(f"Config name is missing.\nPlease pick one among the available configs: {configs}"
                             "\nExample of usage:\n\t`load_dataset('wikitext', 'wikitext-103-raw-v1')`")
        raise ValueError(f"BuilderConfig '{config}' not found. Available: {configs}")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(UserInputError) as error:
        LanguageModelDataModule(hub_dataset="wikitext").setup("fit")
    assert str(error.value) == (
        f"the Hub dataset 'wikitext' has several configs; choose one with data.hub_config ({configs})"
    )
    with pytest.raises(UserInputError) as error:
        LanguageModelDataModule(hub_dataset="wikitext", hub_config="wikitext-2").setup("fit")
    assert str(error.value) == (
        f"the Hub dataset 'wikitext' has no config 'wikitext-2'; choose one with data.hub_config ({configs})"
    )


def test_a_second_setup_reads_the_cache_it_wrote(tmp_path, moby_file, capfd):
    def setup():
        datamodule = LanguageModelDataModule(path=str(moby_file), cache_dir=str(tmp_path / "cache"), seq_len=5)
        datamodule.setup("fit")
        return datamodule

    first = setup()
    (cache_file,) = (tmp_path / "cache").glob("*.pt")
    written = cache_file.stat().st_mtime_ns
    capfd.readouterr()
    second = setup()
    assert "rebuilding" not in capfd.readouterr().err
    assert cache_file.stat().st_mtime_ns == written
    for split in ("train", "val", "test"):
        assert torch.equal(first.ids[split], second.ids[split])
