"""model.net.fast_padding: the padding columns that every pre-padded row shares are run once, exactly."""

import numpy as np
import pytest
import torch

from rnn_sentiment.core.batching import Layout
from rnn_sentiment.data import SentimentDataModule
from rnn_sentiment.keras_compat import binary_cross_entropy
from rnn_sentiment.module import SentimentClassifier
from rnn_sentiment.fast_padding import reads_padding_once, shared_padding_outputs
from rnn_sentiment.network import RecurrentClassifier

MAX_LEN = 24
NETWORKS = {
    "elman": {"cell": "rnn"},
    "elman_two_layers": {"cell": "rnn", "num_layers": 2},
    "elman_mean_pooling": {"cell": "rnn", "pooling": "mean"},
    "lstm": {"cell": "lstm"},
    "gru": {"cell": "gru"},
    "conv_lstm": {"cell": "lstm", "conv_channels": 6},
    "conv_k5_pool3": {"cell": "lstm", "conv_channels": 4, "conv_kernel": 5, "pool_size": 3},
    "conv_k4": {"cell": "gru", "conv_channels": 4, "conv_kernel": 4},
    "two_layers": {"cell": "lstm", "num_layers": 2},
    "mean_pooling": {"cell": "gru", "pooling": "mean"},
    "lstm_normalized_embeddings": {"cell": "lstm", "normalize_embeddings": True},
    "conv_normalized_embeddings": {"cell": "lstm", "conv_channels": 6, "normalize_embeddings": True},
}
BATCHES = {  # review lengths before pre-truncation to MAX_LEN
    "longer_than_max_len": [40, 1, 0, 7],
    "short": [1, 0, 7, 13],
    "one_word": [1, 1],
    "empty": [0, 0, 0],
    "odd_gap": [14, 2, 0],
}


def pre_padded(lengths: list[int], vocab: int = 50, seed: int = 0) -> torch.Tensor:
    """Random reviews laid out as the tutorial's fixed batches: pre-padded, pre-truncated."""
    rng = np.random.default_rng(seed)
    flat = rng.integers(1, vocab, sum(lengths)).astype(np.int32)
    matrix, _ = Layout(MAX_LEN, "pre", "pre", "fixed").matrix(flat, np.array(lengths, dtype=np.int64))
    return matrix.long()


def twins(network: str, **options) -> tuple[RecurrentClassifier, RecurrentClassifier]:
    """The same weights with and without fast padding; the padding embedding trained, as in Keras."""
    torch.manual_seed(0)
    kwargs = dict(hidden_size=8, keras_padding_embedding=True, **NETWORKS[network], **options)
    fast = RecurrentClassifier(50, fast_padding=True, **kwargs)
    plain = RecurrentClassifier(50, fast_padding=False, **kwargs)
    plain.load_state_dict(fast.state_dict())
    return fast, plain


def logits_and_gradients(net: RecurrentClassifier, tokens: torch.Tensor):
    net.zero_grad()
    logits = net(tokens)
    (logits * torch.linspace(-1, 2, len(logits))).sum().backward()
    return logits.detach(), {name: p.grad.clone() for name, p in net.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("network", NETWORKS)
def test_fast_padding_gives_the_plain_logits_and_gradients(network, batch):
    fast, plain = twins(network)
    tokens = pre_padded(BATCHES[batch])
    fast_logits, fast_grads = logits_and_gradients(fast, tokens)
    plain_logits, plain_grads = logits_and_gradients(plain, tokens)
    torch.testing.assert_close(fast_logits, plain_logits, atol=1e-5, rtol=1e-5)
    assert fast_grads.keys() == plain_grads.keys()
    for name in plain_grads:
        torch.testing.assert_close(fast_grads[name], plain_grads[name], atol=1e-5, rtol=1e-5, msg=name)
    assert plain_grads["embedding.weight"][0].abs().sum() > 0  # the padding vector is trained


@pytest.mark.parametrize("network, read", [("lstm", 13), ("two_layers", 13), ("conv_lstm", 12 - 10 // 2)])
def test_fast_padding_runs_the_batch_only_after_the_shared_padding(network, read):
    fast, _ = twins(network)
    # 11 padding columns shared by all rows; the Conv-LSTM skips an even 10 of them (5 pooled steps)
    assert shared_padding_outputs(fast, pre_padded([1, 0, 7, 13])).shape[1] == read
    assert shared_padding_outputs(fast, pre_padded([40, 1])) is None  # a full-length review: nothing to skip


def test_bidirectional_and_dropout_between_layers_fall_back_to_the_plain_path():
    bidirectional, _ = twins("lstm", bidirectional=True)
    assert not reads_padding_once(bidirectional)
    stacked, _ = twins("two_layers", dropout=0.3)
    assert not reads_padding_once(stacked.train())
    assert reads_padding_once(stacked.eval())


@pytest.mark.parametrize("network", ["elman", "lstm", "conv_lstm"])
def test_adam_steps_with_fast_padding_end_at_the_same_weights(network):
    net = dict(NETWORKS[network], hidden_size=8, init="keras_exact", keras_padding_embedding=True, single_bias=True)
    modules = []
    for fast_padding in (True, False):
        torch.manual_seed(0)
        module = SentimentClassifier(50, dict(net, fast_padding=fast_padding), adam="keras", adam_eps=1e-7)
        optimizer = module.configure_optimizers()
        for step, lengths in enumerate([[3, 0, 9], [20, 5], [1, 1, 2], [40, 0]]):
            tokens = pre_padded(lengths, seed=step)
            labels = torch.tensor([float(i % 2) for i in range(len(lengths))])
            optimizer.zero_grad()
            binary_cross_entropy(module(tokens), labels, "logits").backward()
            optimizer.step()
        modules.append(module)
    fast, plain = (dict(m.named_parameters()) for m in modules)
    for name in plain:
        torch.testing.assert_close(fast[name], plain[name], atol=1e-5, rtol=1e-5, msg=name)


def test_fixed_batches_grouped_by_length_leave_more_padding_to_skip(imdb_dir):
    def columns_read(by_length) -> list[int]:
        dm = SentimentDataModule(path=str(imdb_dir), num_words=50, max_len=40, batching="fixed",
                                 batch_size=8, by_length=by_length)
        dm.setup("fit")
        batches = list(dm.train_dataloader())
        assert all(batch["tokens"].shape[1] == 40 and "lengths" not in batch for batch in batches)
        return [int(batch["tokens"].ne(0).any(0).sum()) for batch in batches]

    grouped, mixed = columns_read(True), columns_read(None)  # None: fixed batching mixes lengths
    assert len(grouped) == len(mixed)
    assert sum(grouped) < 0.9 * sum(mixed)
