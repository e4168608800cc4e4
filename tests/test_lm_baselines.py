"""python -m lm.baselines: the interpolated modified Kneser-Ney trigram against hand counts and a dict reference."""

import json
import math
from collections import Counter, defaultdict
from functools import cache
from itertools import pairwise

import numpy as np
import pytest

from conftest import run_module
from lm.baselines import FALLBACK_DISCOUNTS, KneserNeyTrigram, kneser_ney_bigram_perplexity
from rnn_sentiment.core.errors import UserInputError

# ids 0 padding and 1 unknown (absent from training), then b c d
B, C, D = 2, 3, 4
HAND_COUNTED = np.array([B, B, C, D, D, B, D, D, B, C, D, D, D, B])  # b b c d d b d d b c d d d b


def every_context_distribution(model: KneserNeyTrigram) -> tuple[np.ndarray, np.ndarray]:
    """P(w|u v) for every u, v, w (shape V, V, V) and P(w|v) for every v, w (shape V, V)."""
    size = model.vocab_size
    u, v, w = np.meshgrid(np.arange(size), np.arange(size), np.arange(size), indexing="ij")
    trigram = model.probability(u.ravel(), v.ravel(), w.ravel()).reshape(size, size, size)
    v, w = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return trigram, model.bigram_probability(v.ravel(), w.ravel()).reshape(size, size)


@pytest.mark.parametrize("train", [HAND_COUNTED, np.random.default_rng(0).integers(2, 9, size=500)])
def test_every_next_word_distribution_sums_to_one_and_leaves_no_word_at_zero(train):
    model = KneserNeyTrigram(train, vocab_size=10)  # ids 1 and 9 (and more for the hand corpus) never seen
    for distribution in every_context_distribution(model):
        np.testing.assert_allclose(distribution.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
        assert (distribution[..., 1:] > 0).all()
        assert (distribution[..., 0] == 0).all()  # padding is never a word


def formula(n1, n2, n3, n4):
    y = n1 / (n1 + 2 * n2)
    return [1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3]


def test_discounts_follow_chen_and_goodman_on_hand_counts():
    discounts = KneserNeyTrigram(HAND_COUNTED, vocab_size=5).discounts
    # trigrams: bbc 1, bcd 2, cdd 2, ddb 3, dbd 1, bdd 1, dbc 1, ddd 1  ->  n1..n4 = 5, 2, 1, 0
    np.testing.assert_allclose(discounts[3][1:], formula(5, 2, 1, 0))
    # distinct words before each bigram, over the trigram types: bc {b,d} 2, cd {b} 1, dd {c,b,d} 3, db {d} 1,
    # bd {d} 1  ->  3, 1, 1, 0
    np.testing.assert_allclose(discounts[2][1:], formula(3, 1, 1, 0))
    # distinct words before each word, over the bigram types bb bc cd dd db bd: b {b,d} 2, c {b} 1, d {c,d,b} 3
    np.testing.assert_allclose(discounts[1][1:], formula(1, 1, 1, 0))
    assert discounts[3][1:] == pytest.approx([5 / 9, 7 / 6, 3])


def test_counts_without_singletons_fall_back_to_kenlm_discounts():
    model = KneserNeyTrigram(np.tile([B, C, D], 30), vocab_size=5)  # every trigram seen 29 or 30 times
    assert tuple(model.discounts[3][1:]) == FALLBACK_DISCOUNTS
    assert (model.probability([B] * 5, [C] * 5, np.arange(5))[1:] > 0).all()


def test_trigram_beats_the_bigram_where_two_words_decide_the_next():
    # after "a" comes "b" following "x" and "c" following "y": the bigram can only guess, the trigram knows
    x, y, a, b, c = 2, 3, 4, 5, 6
    train, test = np.tile([x, a, b, y, a, c], 50), np.tile([x, a, b, y, a, c], 5)
    trigram = KneserNeyTrigram(train, vocab_size=8).perplexity(test)
    bigram = kneser_ney_bigram_perplexity(train, test, vocab_size=8)
    # a bigram guesses "b" or "c" at best with 1/2, on 2 of the 6 words: perplexity ≥ 2^(2/6)
    assert bigram > 2 ** (1 / 3) > 1.1 > trigram


def reference_model(train: list[int], vocab_size: int):
    """Interpolated modified Kneser-Ney trigram with dicts, written from the formulas: P(w | u, v) or P(w | None, v)."""
    trigrams = Counter(zip(train, train[1:], train[2:]))
    bigram_continuations = Counter((v, w) for _, v, w in trigrams)
    unigram_continuations = Counter(w for _, w in set(pairwise(train)))

    def discounts(counts: Counter) -> dict:
        n = Counter(counts.values())
        fallback = {1: 0.5, 2: 1.0, 3: 1.5}
        if not (n[1] and n[2] and n[3]):
            return fallback
        y = n[1] / (n[1] + 2 * n[2])
        found = {k: k - (k + 1) * y * n[k + 1] / n[k] for k in (1, 2, 3)}
        return found if all(0 < found[k] <= k for k in found) else fallback

    def by_history(counts: Counter) -> dict:
        table = defaultdict(dict)
        for (*history, word), count in counts.items():
            table[tuple(history)][word] = count
        return table

    def interpolate(followers: dict, table: dict, word: int, lower: float) -> float:
        if not followers:
            return lower
        total = sum(followers.values())
        discount = {c: table[min(c, 3)] for c in followers.values()}
        count = followers.get(word, 0)
        own = max(count - discount[count], 0.0) if count else 0.0
        return own / total + sum(discount[c] for c in followers.values()) / total * lower

    d1, d2, d3 = discounts(unigram_continuations), discounts(bigram_continuations), discounts(trigrams)
    after_bigram, after_word = by_history(trigrams), by_history(bigram_continuations)

    @cache
    def bigram(v, w):
        uniform = 0.0 if w == 0 else 1 / (vocab_size - 1)
        return interpolate(after_word.get((v,), {}), d2, w, interpolate(dict(unigram_continuations), d1, w, uniform))

    def probability(u, v, w):
        return bigram(v, w) if u is None else interpolate(after_bigram.get((u, v), {}), d3, w, bigram(v, w))

    return probability


@pytest.mark.parametrize("size, length, all_formula", [(60, 2000, True), (12, 40, False)])
def test_matches_a_dict_reference_on_random_text(size, length, all_formula):
    rng = np.random.default_rng(size)
    zipf = np.arange(1, size - 1) ** -2.0  # ids 1..size-2 drawn Zipf-like, the last id never
    train = rng.choice(np.arange(1, size - 1), size=length, p=zipf / zipf.sum())
    model = KneserNeyTrigram(train, size)
    uses_formula = [tuple(model.discounts[order][1:]) != FALLBACK_DISCOUNTS for order in (1, 2, 3)]
    assert all(uses_formula) if all_formula else not all(uses_formula)
    reference = reference_model(train.tolist(), size)

    # every word after every history seen in training, after 40 random ones, and after each single word
    histories = {*zip(train.tolist(), train[1:].tolist()), *map(tuple, rng.integers(0, size, (40, 2)).tolist())}
    u, v, w = (np.array([(*history, word) for history in sorted(histories) for word in range(size)]).T)
    expected = [reference(*context) for context in zip(u.tolist(), v.tolist(), w.tolist())]
    np.testing.assert_allclose(model.probability(u, v, w), expected, rtol=1e-9, atol=1e-15)
    v, w = np.divmod(np.arange(size * size), size)
    expected = [reference(None, *context) for context in zip(v.tolist(), w.tolist())]
    np.testing.assert_allclose(model.bigram_probability(v, w), expected, rtol=1e-9, atol=1e-15)

    test = rng.integers(1, size, size=200)
    log_p = [math.log(reference(None, test[0], test[1]))]
    log_p += [math.log(reference(u, v, w)) for u, v, w in zip(test, test[1:], test[2:])]
    assert model.perplexity(test) == pytest.approx(math.exp(-np.mean(log_p)), rel=1e-9)


def test_a_vocabulary_too_large_for_packed_keys_is_refused():
    with pytest.raises(UserInputError, match=r"data.num_words=2,097,152 is too large"):
        KneserNeyTrigram(np.array([1, 2, 3]), vocab_size=2**21)


@pytest.mark.slow
def test_run_prints_and_writes_the_trigram_perplexity(moby_file, tmp_path):
    done = run_module("lm.baselines", f"data.path={moby_file}", f"hydra.run.dir={tmp_path / 'run'}", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "trigram (interpolated modified Kneser-Ney) test/ppl" in done.stdout
    results = json.loads((tmp_path / "run" / "baselines.json").read_text())
    trigram = results["trigram (interpolated modified Kneser-Ney) test/ppl"]
    assert 1 <= trigram < results["bigram (interpolated Kneser-Ney) test/ppl"]
    assert set(results["trigram discounts (D1, D2, D3+)"]) == {"order 1", "order 2", "order 3"}
