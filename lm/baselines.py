"""Count baselines on the LM's own splits: add-k unigram, interpolated Kneser-Ney bigram and trigram.

python -m lm.baselines data.path=../shared/data/moby_dick.txt
"""

import math
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from rnn_sentiment.core.configs import CONFIG_PATH
from rnn_sentiment.core.errors import UserInputError, exit_on_user_error
from rnn_sentiment.core.files import write_json_atomically
from rnn_sentiment.core.option_types import check_command_line
from rnn_sentiment.core.text import PAD_ID
from rnn_sentiment.core.training import instantiate_config


def unigram_perplexity(train: np.ndarray, test: np.ndarray, vocab_size: int, k: float = 1.0) -> float:
    """Perplexity on `test` ids of add-`k` unigram counts of `train` ids (both 1-D int arrays)."""
    counts = np.bincount(train, minlength=vocab_size) + k
    log_p = np.log(counts / counts.sum())
    return math.exp(-log_p[test].mean())


def kneser_ney_bigram_perplexity(train: np.ndarray, test: np.ndarray, vocab_size: int, discount: float = 0.75) -> float:
    """P(w|v) = max(c(v,w) − d, 0)/c(v) + d·N₁₊(v·)/c(v) · P_cont(w), P_cont add-one smoothed."""
    pairs = train[:-1].astype(np.int64) * vocab_size + train[1:]
    keys, counts = np.unique(pairs, return_counts=True)
    history_count = np.bincount(train[:-1], minlength=vocab_size).astype(np.float64)
    followers = np.bincount(keys // vocab_size, minlength=vocab_size).astype(np.float64)
    continuation = np.bincount(keys % vocab_size, minlength=vocab_size) + 1.0
    p_cont = continuation / continuation.sum()

    v, w = test[:-1].astype(np.int64), test[1:].astype(np.int64)
    slot = np.searchsorted(keys, v * vocab_size + w)
    slot = np.minimum(slot, len(keys) - 1)
    pair_count = np.where(keys[slot] == v * vocab_size + w, counts[slot], 0).astype(np.float64)
    seen = history_count[v] > 0
    c_v = np.where(seen, history_count[v], 1.0)
    p = np.where(
        seen,
        np.maximum(pair_count - discount, 0) / c_v + discount * followers[v] / c_v * p_cont[w],
        p_cont[w],
    )
    return math.exp(-np.log(p).mean())


FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # KenLM's --discount_fallback defaults


def modified_kneser_ney_discounts(counts: np.ndarray) -> np.ndarray:
    """Chen & Goodman's discounts of one order, from the count-of-counts n₁…n₄ of its `counts`.

    Y = n₁/(n₁ + 2n₂), D_k = k − (k+1)·Y·n_{k+1}/n_k for k = 1, 2, 3 (the last one, D₃₊, for every
    count ≥ 3). Where n₁, n₂ or n₃ is zero, or a D_k falls outside (0, k] (tiny or repetitive text),
    the order takes KenLM's fallback (0.5, 1, 1.5), so every seen history keeps some mass for the
    lower order. Returns `[0, D₁, D₂, D₃₊]`: the discount of a count c is `table[min(c, 3)]`.
    """
    n = [np.count_nonzero(counts == k) for k in (1, 2, 3, 4)]
    discounts = FALLBACK_DISCOUNTS
    if min(n[:3]) > 0:
        y = n[0] / (n[0] + 2 * n[1])
        formula = tuple(k - (k + 1) * y * n[k] / n[k - 1] for k in (1, 2, 3))
        if all(0 < d <= k for k, d in enumerate(formula, start=1)):
            discounts = formula
    return np.array([0.0, *discounts])


def _lookup(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """values[i] where keys[i] == query (keys sorted and unique), else 0."""
    if len(keys) == 0:
        return np.zeros(len(queries), dtype=values.dtype)
    slot = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return np.where(keys[slot] == queries, values[slot], 0)


class KneserNeyTrigram:
    """Interpolated modified Kneser-Ney trigram (Chen & Goodman 1998), over the ids of a word stream.

    P₃(w|u v) = (c(u v w) − D₃(c)) / c(u v ·) + γ₃(u v)·P₂(w|v)
    P₂(w|v)   = (N₁₊(· v w) − D₂(N₁₊)) / N₁₊(· v ·) + γ₂(v)·P₁(w)
    P₁(w)     = (N₁₊(· w) − D₁(N₁₊)) / N₁₊(· ·) + γ₁·1/(V − 1)

    c counts the training trigrams; the lower orders count continuations (N₁₊(· v w): distinct words
    seen before the bigram v w; N₁₊(· w): before the word w). γ(h) = Σ_w D(count(h w)) / count(h ·)
    is the mass the discounts free in history h. Each order has its own three discounts
    (`modified_kneser_ney_discounts`, from that order's counts). A history never seen passes its
    whole mass to the lower order. The last term is uniform over every id but padding, so every
    word, the unknown id and a word unseen in training included, gets a probability > 0, and each
    P(·|history) sums to 1 over the vocabulary. Keys are packed into int64 (u·V² + v·V + w) and
    counted with sort/unique: memory a few int64 arrays the length of the text.
    """

    def __init__(self, train: np.ndarray, vocab_size: int):
        if vocab_size**3 >= 2**63:
            raise UserInputError(
                f"data.num_words={vocab_size:,} is too large for the trigram's packed int64 keys; "
                "use at most 2,097,151 words"
            )
        self.vocab_size = size = vocab_size
        ids = np.asarray(train, dtype=np.int64)
        trigrams, trigram_counts = np.unique((ids[:-2] * size + ids[1:-1]) * size + ids[2:], return_counts=True)
        self.bigrams, bigram_continuations = np.unique(trigrams % size**2, return_counts=True)
        unigram_continuations = np.bincount(np.unique(ids[:-1] * size + ids[1:]) % size, minlength=size)
        self.discounts = {
            order: modified_kneser_ney_discounts(counts)
            for order, counts in ((1, unigram_continuations), (2, bigram_continuations), (3, trigram_counts))
        }

        uniform = np.full(size, 1.0 / (size - 1))
        uniform[PAD_ID] = 0.0
        unigram_discount = self.discounts[1][np.minimum(unigram_continuations, 3)]
        total = unigram_continuations.sum()
        self.unigram = (
            (unigram_continuations - unigram_discount + unigram_discount.sum() * uniform) / total if total else uniform
        )

        self.bigram_numerator, self.bigram_history_total, self.bigram_history_mass = self._order(
            self.bigrams // size, bigram_continuations, self.discounts[2], size
        )
        self.trigrams = trigrams
        self.trigram_histories, history_index = np.unique(trigrams // size, return_inverse=True)
        self.trigram_numerator, self.trigram_history_total, self.trigram_history_mass = self._order(
            history_index, trigram_counts, self.discounts[3], len(self.trigram_histories)
        )

    @staticmethod
    def _order(history_index: np.ndarray, counts: np.ndarray, discount_table: np.ndarray, histories: int):
        """Per n-gram: count − D(count); per history: its total count and the mass Σ D(count) its discounts free."""
        discount = discount_table[np.minimum(counts, 3)]
        total = np.bincount(history_index, weights=counts, minlength=histories)
        mass = np.bincount(history_index, weights=discount, minlength=histories)
        return counts - discount, total, mass

    def bigram_probability(self, previous: np.ndarray, word: np.ndarray) -> np.ndarray:
        """P₂(word|previous), elementwise over equal-length id arrays."""
        previous, word = np.asarray(previous, dtype=np.int64), np.asarray(word, dtype=np.int64)
        lower = self.unigram[word]
        total = self.bigram_history_total[previous]
        numerator = _lookup(self.bigrams, self.bigram_numerator, previous * self.vocab_size + word)
        mass = self.bigram_history_mass[previous]
        seen = total > 0
        return np.where(seen, (numerator + mass * lower) / np.where(seen, total, 1), lower)

    def probability(self, before_previous: np.ndarray, previous: np.ndarray, word: np.ndarray) -> np.ndarray:
        """P₃(word|before_previous previous), elementwise over equal-length id arrays."""
        before_previous, previous = np.asarray(before_previous, dtype=np.int64), np.asarray(previous, dtype=np.int64)
        word = np.asarray(word, dtype=np.int64)
        lower = self.bigram_probability(previous, word)
        history = before_previous * self.vocab_size + previous
        total = _lookup(self.trigram_histories, self.trigram_history_total, history)
        mass = _lookup(self.trigram_histories, self.trigram_history_mass, history)
        numerator = _lookup(self.trigrams, self.trigram_numerator, history * self.vocab_size + word)
        seen = total > 0
        return np.where(seen, (numerator + mass * lower) / np.where(seen, total, 1), lower)

    def perplexity(self, test: np.ndarray) -> float:
        """Over test[1:], as the other baselines and the LSTM: test[1] given test[0] alone, then two words back."""
        test = np.asarray(test, dtype=np.int64)
        first = self.bigram_probability(test[:1], test[1:2])
        rest = self.probability(test[:-2], test[1:-1], test[2:])
        return math.exp(-np.log(np.concatenate([first, rest])).mean())


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="lm")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """Both baselines' test perplexity on the language model's own splits, into `baselines.json`."""
    check_command_line(cfg)
    datamodule = instantiate_config(cfg.data)
    datamodule.setup("fit")
    train, test = datamodule.ids["train"].numpy(), datamodule.ids["test"].numpy()
    vocab = datamodule.vocab_size
    trigram = KneserNeyTrigram(train, vocab)
    results = {
        "unigram (add-1) test/ppl": unigram_perplexity(train, test, vocab),
        "bigram (interpolated Kneser-Ney) test/ppl": kneser_ney_bigram_perplexity(train, test, vocab),
        "trigram (interpolated modified Kneser-Ney) test/ppl": trigram.perplexity(test),
    }
    discounts = {f"order {order}": table[1:].round(4).tolist() for order, table in trigram.discounts.items()}
    print(f"train {len(train):,} words, test {len(test):,} words, vocabulary {vocab:,}")
    for name, value in results.items():
        print(f"  {name:52s} {value:8.1f}")
    print("  trigram discounts D1, D2, D3+: " + ", ".join(f"{order} {values}" for order, values in discounts.items()))
    write_json_atomically(
        Path(cfg.paths.output_dir) / "baselines.json", {**results, "trigram discounts (D1, D2, D3+)": discounts}
    )


if __name__ == "__main__":
    main()
