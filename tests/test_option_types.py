"""Options checked by the kind their key takes (core/option_types.py), before any work starts."""

import pytest

from conftest import run_here
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.option_types import checked_value, kind_of, kinds_in_conf


@pytest.mark.parametrize("key, value, written, message", [
    ("data.max_len", "abc", "abc", "data.max_len=abc must be a whole number, e.g. data.max_len=500"),
    ("data.max_len", 2.5, "2.5", "data.max_len=2.5 must be a whole number, e.g. data.max_len=500"),
    ("data.max_len", True, "true", "data.max_len=true must be a whole number"),
    ("data.max_len", None, "null", "data.max_len cannot be null; give it a value, e.g. data.max_len=500"),
    ("model.lr", float("nan"), "nan", "model.lr=nan must be a number"),
    ("model.lr", [1], "[1]", "model.lr=[1] must be a number"),
    ("model.net.bidirectional", "maybe", "maybe", "model.net.bidirectional=maybe must be true or false"),
    ("model.net.bidirectional", 1, "1", "model.net.bidirectional=1 must be true or false"),
    ("Cs", 7, "7", "Cs=7 must be a list of numbers, e.g. Cs=[0.001,0.01,0.1,1.0]"),
    ("Cs", [0.1, "a"], "[0.1,a]", "Cs=[0.1,a] must be a list of numbers"),
    ("data.seed", "abc", "abc", "data.seed=abc must be a whole number"),  # ${seed}: the kind of seed
    ("trainer.max_epochs", "x", "x", "trainer.max_epochs=x must be a whole number"),  # Lightning's annotation
    ("trainer.logger", "abc", "abc", "trainer.logger=abc must be true or false"),  # predict's conf
    ("model.net.cell", [1], "[1]", "model.net.cell=[1] must be a text"),
    ("data.max_len", {"a": 1}, "{a: 1}", "data.max_len={a: 1} must be a whole number"),
])
def test_a_value_of_the_wrong_kind_is_one_line_naming_the_option(key, value, written, message):
    with pytest.raises(UserInputError) as raised:
        checked_value(key, value, written)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


@pytest.mark.parametrize("key, value, written, expected", [
    ("data.max_len", 7, "7", 7),
    ("model.lr", 1, "1", 1),  # a whole number is a number
    ("Cs", [0.1, 1], "[0.1,1]", [0.1, 1]),
    ("seed", None, "null", None),  # null somewhere in conf/ (generate.yaml)
    ("trainer.max_epochs", None, "null", None),  # Optional in Lightning's annotation
    ("trainer.fast_dev_run", 3, "3", 3),  # int or bool
    ("trainer.limit_train_batches", 0.5, "0.5", 0.5),
    ("trainer.devices", "auto", "auto", "auto"),  # a text or a list too: Lightning checks it
    ("explain", 7, "7", "7"),  # a text written as a number is that text
    ("seed_text", 1984, "1984", "1984"),
    ("data.text_column", ["title", 2], "[title,2]", ["title", "2"]),
    ("data.path", ["a.txt", "b.txt"], "[a.txt,b.txt]", ["a.txt", "b.txt"]),
    ("model.net.cell", "gru2", "gru2", "gru2"),  # which texts: the network's own check
])
def test_a_value_of_a_kind_the_key_takes_passes(key, value, written, expected):
    assert checked_value(key, value, written) == expected


def test_kinds_come_from_every_file_of_conf():
    kinds = kinds_in_conf()
    assert kinds["data.max_len"].types == {int} and kinds["model.lr"].types == {float}
    assert kinds["data.by_length"].types == {bool} and kinds["data.by_length"].nullable  # null in imdb.yaml
    assert kinds["model.net.adaptive_cutoffs"].items == {int}  # from experiment/lm_imdb.yaml (@package _global_)
    assert kind_of("trainer.devices") is None and kind_of("not.a.key") is None  # Lightning's text, int or list
    assert kind_of("trainer.profiler").types == {str}  # a name or an object: a number given is the name written


def test_the_encoder_checkpoint_has_one_key_for_the_user(tmp_path):
    given = run_here("rnn_sentiment.train", f"model.encoder_ckpt={tmp_path / 'lm.ckpt'}", cwd=tmp_path)
    assert given.returncode == 2
    assert given.stderr.strip() == (f"error: model.encoder_ckpt follows encoder_ckpt; give "
                                    f"encoder_ckpt={tmp_path / 'lm.ckpt'} instead")
    missing = run_here("rnn_sentiment.train", f"encoder_ckpt={tmp_path / 'lm.ckpt'}", cwd=tmp_path)
    assert missing.returncode == 2 and f"encoder_ckpt={tmp_path / 'lm.ckpt'}: no such checkpoint file" in missing.stderr
