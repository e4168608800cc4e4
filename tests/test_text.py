import numpy as np
import pytest
import torch

from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.batching import Layout
from rnn_sentiment.core.text import PAD_ID, UNK_ID, WordTokenizer, pad_ragged, pad_sequences


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


def test_encoding_no_texts_gives_empty_int32_arrays():
    flat, lengths = WordTokenizer.fit(["x y"], num_words=10).encode_ragged([])
    assert (flat.dtype, flat.shape, lengths.shape) == (np.int32, (0,), (0,))


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
    for side in ("padding", "truncating"):
        with pytest.raises(UserInputError) as error:
            pad_sequences(SEQS, 3, **{side: "middle"})
        assert str(error.value) == f"{side}='middle' is not a side; use pre or post"


def test_the_smallest_settings_still_work():
    tokenizer = WordTokenizer.fit(["whale whale ship"], num_words=3)  # padding, unknown and one word
    assert tokenizer.token_ids(["whale", "ship"]) == [2, UNK_ID]
    assert pad_sequences([[2, 3]], 1).tolist() == [[3]]  # max_len 1
    with pytest.raises(UserInputError) as error:
        WordTokenizer.fit(["a b"], num_words=2)
    assert str(error.value) == ("data.num_words=2 leaves no room for words next to padding and unknown; set "
                                "data.num_words to 3 or more (the tutorial uses 5000)")


def test_one_token_in_all_pads_the_rest():
    matrix, kept = pad_ragged(np.array([7], dtype=np.int32), np.array([0, 1, 0]), 3, "post", "pre")
    assert matrix.tolist() == [[0, 0, 0], [7, 0, 0], [0, 0, 0]] and kept.tolist() == [0, 1, 0]


def test_pad_sequences_defaults_to_keras_pre_padding_and_pre_truncation_as_int32():
    padded = pad_sequences(SEQS, 3)
    assert padded.tolist() == [[0, 1, 2], [1, 2, 3], [3, 4, 5], [0, 0, 0]] and padded.dtype == torch.int32


def test_words_outside_the_vocabulary_get_the_unknown_id():
    tokenizer = WordTokenizer.fit(["the whale the ship"], num_words=10)
    ids = tokenizer.token_ids(["the", "zebra", "ship"])
    assert ids[1] == UNK_ID and ids[0] not in (PAD_ID, UNK_ID) and ids[2] not in (PAD_ID, UNK_ID, ids[0])


def test_a_bucketed_batch_of_empty_texts_is_one_column_wide():
    layout = Layout(5, padding="post", truncating="pre", batching="bucket")
    matrix, kept = layout.matrix(np.zeros(0, dtype=np.int32), np.array([0, 0]))
    batch = layout.batch(matrix, kept, torch.tensor([0, 1]))
    assert batch["tokens"].tolist() == [[0], [0]] and batch["lengths"].tolist() == [0, 0]
    matrix, kept = layout.matrix(np.array([4, 5, 6], dtype=np.int32), np.array([1, 2]))
    assert layout.batch(matrix, kept, torch.tensor([0, 1]))["tokens"].tolist() == [[4, 0], [5, 6]]
