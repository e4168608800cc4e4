"""Word-level tokenizer with Keras `Tokenizer` rules, and Keras `pad_sequences`."""

import re
from collections.abc import Sequence, Sized

import numpy as np
import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from rnn_sentiment.core.errors import UserInputError

PAD, UNK = "[PAD]", "[UNK]"
PAD_ID, UNK_ID = 0, 1
KERAS_FILTERS = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n"
SIDES = ("pre", "post")


class WordTokenizer:
    """Lowercases, drops `<br />` and Keras' punctuation, splits on whitespace.

    Ids: 0 padding, 1 unknown word, then words by falling frequency; `num_words`
    counts every id, so `Embedding(num_words, dim)` fits exactly.
    """

    def __init__(self, tokenizer: Tokenizer):
        self._tokenizer = tokenizer
        self.id_to_word = [None] * tokenizer.get_vocab_size()
        for word, index in tokenizer.get_vocab().items():
            self.id_to_word[index] = word

    @classmethod
    def fit(cls, texts, num_words: int) -> "WordTokenizer":
        """A tokenizer fitted on `texts` (an iterable of strings; the training split only), keeping the
        `num_words - 2` most frequent words after the two specials."""
        check_num_words(num_words)
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
        tokenizer.normalizer = keras_normalizer()
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer = trainers.WordLevelTrainer(
            vocab_size=num_words, special_tokens=[PAD, UNK], min_frequency=1, show_progress=False
        )
        tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts) if isinstance(texts, Sized) else None)
        return cls(tokenizer)

    @classmethod
    def from_json(cls, text: str) -> "WordTokenizer":
        """The tokenizer that `to_json` saved (as a checkpoint or the cache stores it)."""
        return cls(Tokenizer.from_str(text))

    def to_json(self) -> str:
        """The whole tokenizer (rules and vocabulary) as a JSON string: plain data for a checkpoint."""
        return self._tokenizer.to_str()

    @property
    def vocab_size(self) -> int:
        """Every id, specials included: the rows an embedding of this vocabulary needs."""
        return len(self.id_to_word)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """The ids of each text (no padding, unknown words as `UNK_ID`), encoded in one Rust batch."""
        return [e.ids for e in self._tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)]

    def encode_ragged(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """All ids of `texts` in one flat int32 array, and each text's length."""
        encoded = [np.asarray(ids, dtype=np.int32) for ids in self.encode(texts)]
        lengths = np.array([len(ids) for ids in encoded], dtype=np.int64)
        flat = np.concatenate(encoded) if encoded else np.zeros(0, dtype=np.int32)
        return flat, lengths

    def words(self, text: str) -> list[str]:
        """`text` normalized and split as the tokenizer does, before the vocabulary lookup."""
        normalized = self._tokenizer.normalizer.normalize_str(text)
        return [word for word, _ in self._tokenizer.pre_tokenizer.pre_tokenize_str(normalized)]

    def token_ids(self, words: Sequence[str]) -> list[int]:
        """The id of each already-split word, `UNK_ID` for a word outside the vocabulary."""
        vocab = self._tokenizer.get_vocab()
        return [vocab.get(w, UNK_ID) for w in words]

    def decode(self, ids) -> str:
        """The words of `ids` joined by spaces, padding left out."""
        words = (self.id_to_word[i] for i in ids if i != PAD_ID)
        return " ".join(words)


def keras_normalizer() -> normalizers.Normalizer:
    """Drops `<br />`, lowercases and turns Keras' punctuation filters into spaces."""
    return normalizers.Sequence(
        [
            normalizers.Replace("<br />", " "),
            normalizers.Lowercase(),
            normalizers.Replace(Regex(f"[{re.escape(KERAS_FILTERS)}]"), " "),
        ]
    )


_NORMALIZER, _WHITESPACE = keras_normalizer(), pre_tokenizers.WhitespaceSplit()


def words_of(text: str) -> list[str]:
    """`text` as the words a fitted `WordTokenizer` looks up: `keras_normalizer`, then a whitespace split."""
    return [word for word, _ in _WHITESPACE.pre_tokenize_str(_NORMALIZER.normalize_str(text))]


def check_num_words(num_words: int) -> int:
    """`num_words`, or a `UserInputError` when it leaves no id for a word (it must be at least 3)."""
    if num_words < 3:
        raise UserInputError(
            f"data.num_words={num_words} leaves no room for words next to padding and unknown; "
            "set data.num_words to 3 or more (the tutorial uses 5000)"
        )
    return num_words


def check_side(option: str, value: str) -> str:
    """`value`, or a `UserInputError` naming `option` when it is neither `pre` nor `post`."""
    if value not in SIDES:
        raise UserInputError(f"{option}={value!r} is not a side; use pre or post")
    return value


def check_max_len(max_len: int) -> int:
    """`max_len`, or a `UserInputError` when it is not a positive int."""
    if not isinstance(max_len, int) or max_len <= 0:
        raise UserInputError(f"data.max_len={max_len!r} must be a positive number of tokens, e.g. data.max_len=500")
    return max_len


def pad_ragged(
    flat: np.ndarray, lengths: np.ndarray, max_len: int, padding: str = "pre", truncating: str = "pre"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keras `pad_sequences` on ragged ids: an (N, max_len) int32 matrix and the kept lengths."""
    check_max_len(max_len)
    check_side("padding", padding)
    check_side("truncating", truncating)
    n = len(lengths)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    kept = np.minimum(lengths, max_len)
    if truncating == "pre":
        starts = starts + lengths - kept
    columns = np.arange(max_len)
    offset = (max_len - kept)[:, None] if padding == "pre" else np.zeros((n, 1), dtype=np.int64)
    position = columns[None, :] - offset
    real = (position >= 0) & (position < kept[:, None])
    source = np.where(real, starts[:, None] + position, 0)
    matrix = np.where(real, flat[source] if len(flat) else 0, PAD_ID).astype(np.int32)
    return torch.from_numpy(matrix), torch.from_numpy(kept)


def pad_sequences(
    sequences: Sequence[Sequence[int]], max_len: int, padding: str = "pre", truncating: str = "pre"
) -> torch.Tensor:
    """Keras `pad_sequences` on lists of ids: an (N, max_len) int32 tensor, `PAD_ID` where there is no
    token; `padding` and `truncating` (`pre` | `post`) say which end is padded and which is cut."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    flat = np.array([i for s in sequences for i in s], dtype=np.int32)
    return pad_ragged(flat, lengths, max_len, padding, truncating)[0]
