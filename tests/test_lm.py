import json

import pytest
import torch
from scipy.stats import chisquare

from conftest import QUICK_TRAINING, compose_config, run_here, run_module
from lm.data import LanguageModelDataModule, Streams, Windows
from lm.module import LanguageModel
from lm.sampling import check_sampling_options, generate, pick_next
from rnn_sentiment.core.checkpoints import load_module
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.training import train


def test_pairs_and_windows():
    ids = torch.arange(11)
    pairs = Windows(ids, 1)
    assert len(pairs) == 10
    assert pairs[[0, 9]]["tokens"].tolist() == [[0], [9]] and pairs[[0, 9]]["targets"].tolist() == [[1], [10]]
    windows = Windows(ids, 3)
    assert windows[[0, 1, 2]]["tokens"].tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert windows[[0, 1, 2]]["targets"].tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def test_streams_carry_contiguous_text_across_batches():
    streams = Streams(torch.arange(21), streams=2, seq_len=3)
    assert len(streams) == 4
    assert streams[[0]]["tokens"].tolist() == [[0, 1, 2], [10, 11, 12]]
    assert streams[[1]]["tokens"].tolist() == [[3, 4, 5], [13, 14, 15]]
    assert streams[[3]]["tokens"].tolist() == [[9], [19]] and streams[[3]]["targets"].tolist() == [[10], [20]]
    second_rank = Streams(torch.arange(21), streams=2, seq_len=3, rank=1, world=2)
    assert second_rank[[0]]["tokens"].tolist() == [[10, 11, 12]]


def test_splits_are_contiguous_and_disjoint(tmp_path):
    (tmp_path / "numbers.txt").write_text("\n".join(f"line{i:04d} word" for i in range(200)))
    dm = LanguageModelDataModule(path=str(tmp_path / "numbers.txt"), num_words=1000, seq_len=4)
    dm.setup("fit")
    assert [len(dm.ids[name]) for name in ("train", "val", "test")] == [360, 20, 20]
    train_words = dm.tokenizer.decode(dm.ids["train"].tolist()).split()
    assert [int(w[4:]) for w in train_words if w.startswith("line")] == list(range(180))
    # fitted on the training slice only: later lines are unknown words there
    assert dm.tokenizer.decode(dm.ids["val"].tolist()).split() == ["[UNK]", "word"] * 10


@pytest.mark.slow
def test_learning_rate_shrinks_after_an_epoch_that_does_not_lower_val_ppl(tmp_path):
    # validation words are all unseen in training: val/ppl rises as the model fits the training text
    text = tmp_path / "book.txt"
    unseen = [" ".join(f"other{line}x{word}" for word in range(7)) for line in range(10)]
    text.write_text("\n".join(["the ship sailed and the whale swam"] * 90 + unseen))
    trace = tmp_path / "trace.jsonl"
    cfg = compose_config("lm", tmp_path, [
        f"data.path={text}", f"paths.cache_dir={tmp_path / 'cache'}", "data.seq_len=8", "data.stateful=true",
        "data.batch_size=4", "data.eval_batch_size=2", "model.net.embed_dim=16", "model.net.hidden_size=16",
        "model.lr=0.01", "model.lr_decay=0.5", *QUICK_TRAINING, "trainer.max_epochs=4",
        "~logger", "test=false", "+callbacks.trace._target_=helpers.EpochTrace", f"+callbacks.trace.path={trace}",
    ])
    train(cfg)
    epochs = [json.loads(line) for line in trace.read_text().splitlines()]
    assert len(epochs) == 4
    best = float("inf")
    for this, following in zip(epochs, epochs[1:]):
        improved = this["ppl"] < best * (1 - 1e-4)  # ReduceLROnPlateau's default relative threshold
        assert following["lr"] == pytest.approx(this["lr"] * (1.0 if improved else 0.5))
        best = min(best, this["ppl"])
    assert epochs[-1]["lr"] < 0.01


def test_text_without_words_is_refused(tmp_path):
    (tmp_path / "punct.txt").write_text("!!! ... ???\n" * 50)
    with pytest.raises(UserInputError, match="punct.txt: the train slice holds 0 words"):
        LanguageModelDataModule(path=str(tmp_path / "punct.txt")).setup("fit")


class CountingNet(torch.nn.Module):
    """Prefers word 2 + (number of words read so far) % 5: only a sampler that
    carries the state through the seed and each generated word sees the count."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, tokens, state=None):
        seen = (state if state is not None else torch.zeros(len(tokens))) + tokens.shape[1]
        logits = torch.full((len(tokens), 1, 10), -10.0)
        logits[torch.arange(len(tokens)), 0, (2 + seen.long() % 5)] = 10.0
        return logits, seen


def test_generation_carries_the_state():
    ids = generate(CountingNet(), [3, 3, 3], n_words=4, temperature=0)
    assert ids.tolist() == [[5, 6, 2, 3]]


@pytest.mark.slow
def test_tiny_lm_learns_a_repetitive_text(lm_checkpoint):
    metrics = json.loads((lm_checkpoint / "metrics.json").read_text())
    assert metrics["test/ppl"] < 1.5, metrics
    assert metrics["best/val/ppl"] < 1.5


@pytest.mark.slow
def test_generation_from_the_checkpoint_alone(lm_checkpoint):
    ckpt = lm_checkpoint / "checkpoints" / "last.ckpt"
    module = load_module(str(ckpt), LanguageModel, "lm")
    greedy = run_module("lm.generate", f"ckpt_path={ckpt}", "seed_text=the whale", "n_words=6", "temperature=0")
    assert greedy.returncode == 0, greedy.stderr
    assert greedy.stdout.strip() == "the whale swam under the ship call me"

    # seeded sampling, in this process (the greedy run above is a fresh Python's)
    args = [f"ckpt_path={ckpt}", "seed_text=call", "n_words=12", "temperature=3", "num_samples=3", "seed=7"]
    first, again = run_here("lm.generate", *args), run_here("lm.generate", *args)
    assert first.stdout == again.stdout and len(first.stdout.strip().splitlines()) == 3
    other = run_here("lm.generate", *args[:-1], "seed=8")
    assert other.stdout != first.stdout

    ids = generate(module.net, module.tokenizer.token_ids(["call"]), 12, 3.0, num_samples=3,
                   generator=torch.Generator().manual_seed(7))
    expected = ["call " + module.tokenizer.decode(row.tolist()) for row in ids]
    assert first.stdout.strip().splitlines() == expected


@pytest.mark.slow
def test_generate_errors_and_unknown_seed(lm_checkpoint):
    ckpt = lm_checkpoint / "checkpoints" / "last.ckpt"
    for option, message in [
        ("temperature=-1", "temperature=-1 must be 0 (greedy) or more"),
        ("top_p=1.5", "top_p=1.5 must lie in (0, 1]; 1 turns it off"),
        ("n_words=-3", "n_words=-3 must be 0 or more"),
    ]:
        result = run_here("lm.generate", f"ckpt_path={ckpt}", option)
        assert result.returncode == 2
        assert result.stderr.strip() == f"error: {message}"
    unknown = run_here("lm.generate", f"ckpt_path={ckpt}", "seed_text=zebra ship", "n_words=2", "temperature=0")
    assert unknown.returncode == 0
    assert "not in the vocabulary, read as unknown: zebra" in unknown.stderr
    assert unknown.stdout.startswith("zebra ship")


@pytest.mark.parametrize("options, message", [
    ({"n_words": -1}, "n_words=-1 must be 0 or more"),
    ({"temperature": -0.5}, "temperature=-0.5 must be 0 (greedy) or more"),
    ({"top_k": -1}, "top_k=-1 must be 0 (off) or more"),
    ({"top_p": 0.0}, "top_p=0.0 must lie in (0, 1]; 1 turns it off"),
    ({"top_p": 1.5}, "top_p=1.5 must lie in (0, 1]; 1 turns it off"),
    ({"num_samples": 0}, "num_samples=0 must be at least 1"),
])
def test_sampling_options_out_of_range_are_named(options, message):
    valid = {"n_words": 0, "temperature": 0.0, "top_k": 0, "top_p": 1.0, "num_samples": 1}  # the edges that pass
    check_sampling_options(**valid)
    with pytest.raises(UserInputError) as error:
        check_sampling_options(**{**valid, **options})
    assert str(error.value) == message


def truncated(probabilities: list[float], temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """The distribution sampling should follow, written out directly: p^(1/T) renormalised, then the
    k likeliest kept, then the smallest head whose mass reaches top_p, each step renormalised."""
    p = torch.tensor(probabilities, dtype=torch.float64) ** (1 / temperature)
    p /= p.sum()
    order = p.argsort(descending=True)
    keep = torch.zeros_like(p, dtype=torch.bool)
    mass = 0.0
    for rank, word in enumerate(order.tolist()):
        if (top_k and rank >= top_k) or mass >= top_p:
            break
        keep[word] = True
        mass += float(p[word] / p[order[: top_k or len(p)]].sum())
    p = p * keep
    return p / p.sum()


@pytest.mark.parametrize("temperature, top_k, top_p", [
    (1.0, 0, 1.0), (1.0, 2, 1.0), (1.0, 0, 0.6), (0.5, 0, 1.0), (2.0, 0, 1.0), (3.0, 0, 1.0),
    (1.0, 3, 0.75),  # top-p measured after top-k: of 0.4, 0.3, 0.2 renormalised, two words reach 0.75
    (2.0, 3, 0.6),
])
def test_sampling_follows_the_tempered_truncated_distribution(temperature, top_k, top_p):
    probabilities = [0.4, 0.3, 0.2, 0.1]
    expected = truncated(probabilities, temperature, top_k, top_p)
    logits = torch.log(torch.tensor([[0.0, 0.0, *probabilities]])).repeat(40000, 1)
    ids = pick_next(logits, temperature, top_k, top_p, torch.Generator().manual_seed(0))
    counts = torch.bincount(ids, minlength=6).double()
    assert counts[:2].sum() == 0  # padding and unknown are never sampled
    observed, kept = counts[2:], expected > 0
    assert observed[~kept].sum() == 0
    test = chisquare(observed[kept].numpy(), (expected[kept] * len(ids)).numpy())
    assert test.pvalue > 1e-3, (observed / len(ids), expected)


def test_one_row_at_a_time_follows_the_same_distribution_and_its_seed():
    """Generation samples one row per call (batch 1): the truncation and the inverse CDF must not mix up
    the batch and vocabulary axes, and a seeded generator must decide the draws."""
    probabilities = [0.4, 0.3, 0.2, 0.1]
    logits = torch.log(torch.tensor([[0.0, 0.0, *probabilities]]))

    def draws(seed: int, n: int = 3000) -> list[int]:
        generator = torch.Generator().manual_seed(seed)
        return [int(pick_next(logits, 1.0, 3, 1.0, generator)) for _ in range(n)]

    first = draws(0)
    assert first == draws(0) and first != draws(1)
    counts = torch.bincount(torch.tensor(first), minlength=6).double()
    expected = truncated(probabilities, 1.0, 3, 1.0)
    assert counts[:2].sum() == 0 and counts[5] == 0
    assert chisquare(counts[2:5].numpy(), (expected[:3] * len(first)).numpy()).pvalue > 1e-3


def test_the_truncation_reference_itself():
    torch.testing.assert_close(truncated([0.4, 0.3, 0.2, 0.1], 1.0, 3, 0.75),
                               torch.tensor([4 / 7, 3 / 7, 0, 0], dtype=torch.float64))
    torch.testing.assert_close(truncated([0.5, 0.5], 2.0, 0, 1.0), torch.tensor([0.5, 0.5], dtype=torch.float64))
    torch.testing.assert_close(truncated([0.8, 0.2], 0.5, 0, 1.0), torch.tensor([16 / 17, 1 / 17], dtype=torch.float64))
