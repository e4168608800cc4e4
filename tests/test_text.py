import numpy as np
import pytest
import torch

from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.text import WordTokenizer, pad_ragged, pad_sequences


def test_keras_rules_lowercase_br_and_punctuation():
    tokenizer = WordTokenizer.fit(["The film<br />was GREAT, great... don't-miss it!"], num_words=100)
    assert tokenizer.words("The film<br />was GREAT, great... don't-miss it!") == [
        "the", "film", "was", "great", "great", "don't", "miss", "it",
    ]
    assert tokenizer.id_to_word[:3] == ["[PAD]", "[UNK]", "great"]


def test_num_words_counts_specials_and_keeps_most_frequent():
    texts = ["a a a a b b b c c d", "a b c"]
    tokenizer = WordTokenizer.fit(texts, num_words=4)
    assert tokenizer.vocab_size == 4
    assert tokenizer.id_to_word == ["[PAD]", "[UNK]", "a", "b"]
    assert tokenizer.encode(["a b c d zebra"]) == [[2, 3, 1, 1, 1]]


def test_batch_encoding_ragged_and_decode():
    tokenizer = WordTokenizer.fit(["x y z", "y z", "z"], num_words=10)
    flat, lengths = tokenizer.encode_ragged(["z y", "", "x q"])
    assert lengths.tolist() == [2, 0, 2]
    assert flat.dtype == np.int32 and len(flat) == 4
    assert tokenizer.decode([0, 0, *flat[:2].tolist()]) == "z y"


def test_json_round_trip_gives_same_ids():
    tokenizer = WordTokenizer.fit(["one two two three three three"], num_words=10)
    again = WordTokenizer.from_json(tokenizer.to_json())
    assert again.encode(["three two one four"]) == tokenizer.encode(["three two one four"])
    assert again.id_to_word == tokenizer.id_to_word


def test_num_words_below_three_is_refused():
    with pytest.raises(UserInputError, match="data.num_words=2"):
        WordTokenizer.fit(["a b"], num_words=2)


SEQS = [[1, 2], [1, 2, 3], [1, 2, 3, 4, 5], []]


@pytest.mark.parametrize(
    "padding, truncating, expected",
    [
        ("pre", "pre", [[0, 1, 2], [1, 2, 3], [3, 4, 5], [0, 0, 0]]),
        ("post", "pre", [[1, 2, 0], [1, 2, 3], [3, 4, 5], [0, 0, 0]]),
        ("pre", "post", [[0, 1, 2], [1, 2, 3], [1, 2, 3], [0, 0, 0]]),
        ("post", "post", [[1, 2, 0], [1, 2, 3], [1, 2, 3], [0, 0, 0]]),
    ],
)
def test_pad_sequences_matches_keras(padding, truncating, expected):
    assert pad_sequences(SEQS, 3, padding, truncating).tolist() == expected


def test_pad_ragged_returns_kept_lengths():
    flat = np.array([1, 2, 1, 2, 3, 1, 2, 3, 4, 5], dtype=np.int32)
    matrix, kept = pad_ragged(flat, np.array([2, 3, 5, 0]), 3)
    assert kept.tolist() == [2, 3, 3, 0]
    assert matrix.dtype == torch.int32


@pytest.mark.parametrize("max_len", [0, -5])
def test_bad_max_len(max_len):
    with pytest.raises(UserInputError, match="data.max_len"):
        pad_sequences(SEQS, max_len)


def test_bad_side():
    with pytest.raises(UserInputError, match="use pre or post"):
        pad_sequences(SEQS, 3, padding="middle")
