"""Adversarial and virtual adversarial training on normalized embeddings (Miyato et al., 2017)."""

import json

import pytest
import torch
from conftest import QUICK, compose_config
from hydra.utils import instantiate
from torch.nn import functional as F

from rnn_sentiment.adversarial import adversarial_loss, divergence, unit_per_text, virtual_adversarial_loss
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.training import train
from rnn_sentiment.module import SentimentClassifier
from rnn_sentiment.network import RecurrentClassifier


def network_and_batch(num_classes=2, seed=0):
    """A small LSTM classifier in eval mode (no dropout: each pass is the same function) and a
    pre-padded batch whose first two columns of row 0 are padding."""
    torch.manual_seed(seed)
    net = RecurrentClassifier(30, num_classes, hidden_size=12, embed_dim=8, normalize_embeddings=True).eval()
    net.word_counts.copy_(torch.rand(30) * 10)
    tokens = torch.randint(1, 30, (4, 9))
    tokens[0, :2] = 0
    return net, tokens, tokens.ne(0).unsqueeze(-1)


def test_a_unit_direction_has_norm_one_per_text_and_leaves_padding_alone():
    _, tokens, real = network_and_batch()
    unit = unit_per_text(torch.randn(4, 9, 8), real)
    torch.testing.assert_close(unit.flatten(1).norm(dim=1), torch.ones(4))
    assert unit[0, :2].abs().sum() == 0


def test_normalized_embeddings_have_zero_mean_and_unit_variance_under_the_word_counts():
    net, _, _ = network_and_batch()
    vectors = net.embed(torch.arange(30).unsqueeze(0))[0]
    share = net.word_counts / net.word_counts.sum()
    torch.testing.assert_close(share @ vectors, torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(share @ vectors.square(), torch.ones(8), atol=1e-4, rtol=0)


@pytest.mark.parametrize("num_classes", [2, 4])
def test_the_adversarial_move_raises_the_loss_by_epsilon_times_the_gradient_norm_and_beats_random_moves(num_classes):
    net, tokens, real = network_and_batch(num_classes)
    labels = torch.randint(0, num_classes, (4,)).float()
    loss_of = (lambda z: F.binary_cross_entropy_with_logits(z, labels)) if num_classes == 2 else \
        (lambda z: F.cross_entropy(z, labels.long()))
    x = net.embed(tokens)
    loss = loss_of(net.from_embeddings(x))
    (gradient,) = torch.autograd.grad(loss, x, retain_graph=True)
    epsilon = 1e-3
    moved = adversarial_loss(net, x, real, None, loss, loss_of, epsilon)
    # to first order each text's loss rises by epsilon times its own gradient's norm (the mean over 4 texts)
    rise = epsilon * (gradient * real).flatten(1).norm(dim=1).sum()
    torch.testing.assert_close(moved - loss, rise, rtol=0.05, atol=0)
    for seed in range(20):
        torch.manual_seed(seed)
        random = loss_of(net.from_embeddings(x + epsilon * unit_per_text(torch.randn_like(x), real)))
        assert random < moved


def test_the_virtual_adversarial_move_changes_the_prediction_more_than_random_moves():
    net, tokens, real = network_and_batch()
    x = net.embed(tokens).detach()
    logits = net.from_embeddings(x)
    epsilon = 0.5
    torch.manual_seed(1)
    found = virtual_adversarial_loss(net, x, real, None, logits, epsilon)
    for seed in range(20):
        torch.manual_seed(100 + seed)
        random = divergence(logits, net.from_embeddings(x + epsilon * unit_per_text(torch.randn_like(x), real)))
        assert random < found
    assert divergence(logits, logits) == 0


def test_the_binary_divergence_is_the_bernoulli_kl():
    clean, perturbed = torch.tensor([0.3, -2.0]), torch.tensor([1.1, -0.5])
    p, q = torch.sigmoid(clean), torch.sigmoid(perturbed)
    bernoulli = (p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()).mean()
    torch.testing.assert_close(divergence(clean, perturbed), bernoulli)


@pytest.mark.parametrize(("options", "message"), [
    ({"adversarial": 5.0}, "model.adversarial=5.0 perturbs normalized embeddings; set model.net.normalize_embeddings=true"),
    ({"virtual_adversarial": -1.0, "net": {"normalize_embeddings": True}}, "model.virtual_adversarial=-1.0 must be 0"),
])
def test_bad_adversarial_options_are_one_line_errors(options, message):
    net = {"hidden_size": 8, **options.pop("net", {})}
    with pytest.raises(UserInputError, match=message):
        SentimentClassifier(30, net, **options)


def test_training_with_both_perturbations_learns_logs_them_and_keeps_the_word_counts(tmp_path, imdb_dir):
    quick = [option for option in QUICK if option != "~logger"]
    cfg = compose_config("train", tmp_path, [f"data.path={imdb_dir}", *quick, "model.net.normalize_embeddings=true",
                                             "model.adversarial=2.0", "model.virtual_adversarial=2.0",
                                             "logger=csv", "model.lr=0.01", "trainer.max_epochs=3"])
    train(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test/acc"] > 0.75
    header = (tmp_path / "run" / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/adversarial_loss", "train/virtual_adversarial_loss", "train/loss"} <= set(header)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    torch.testing.assert_close(saved["net.word_counts"], datamodule.word_counts(), rtol=0, atol=0)
    real_words = int((datamodule.datasets["train"].matrix != 0).sum())
    assert saved["net.word_counts"].sum() == real_words and saved["net.word_counts"][0] == 0


def test_virtual_adversarial_training_reads_unlabelled_texts_drawn_by_step_and_never_the_test_texts(tmp_path, imdb_dir):
    import pandas as pd

    test_texts = pd.read_parquet(imdb_dir / "test.parquet").text.tolist()
    unlabelled = pd.DataFrame({"text": [" ".join(["zebra"] * k) for k in range(1, 41)] + test_texts[:20]})
    unlabelled.to_parquet(tmp_path / "unsup.parquet")
    cfg = compose_config("train", tmp_path, [f"data.path={imdb_dir}", *QUICK, f"data.unlabelled_path={tmp_path / 'unsup.parquet'}",
                                             "model.net.normalize_embeddings=true", "model.virtual_adversarial=2.0"])
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    assert len(datamodule.unlabelled) == 40  # the 20 test texts are left out
    first, again, other = (datamodule.unlabelled_batch(step, rank) for step, rank in ((3, 0), (3, 0), (3, 1)))
    assert torch.equal(first["tokens"], again["tokens"]) and not torch.equal(first["tokens"], other["tokens"])
    assert len(first["tokens"]) == 16 and "labels" not in first
    for step in range(20):  # neighbours in length: 16 consecutive lengths, and no more columns than the longest
        tokens = datamodule.unlabelled_batch(step, 0)["tokens"]
        lengths = sorted(tokens.ne(0).sum(1).tolist())
        assert lengths == list(range(lengths[0], lengths[0] + 16)) and tokens.shape[1] == lengths[-1]
    drawn = []
    original = type(datamodule).unlabelled_batch

    def recording(self, step, rank):
        drawn.append(step)
        return original(self, step, rank)

    from unittest.mock import patch

    with patch.object(type(datamodule), "unlabelled_batch", recording):
        train(cfg)
    assert drawn == list(range(len(drawn))) and len(drawn) > 10  # one draw a training step, by its global step
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test/acc"] > 0.7


def test_unlabelled_texts_without_virtual_adversarial_training_are_named_as_unused(tmp_path, imdb_dir):
    import pandas as pd

    pd.DataFrame({"text": ["an unlabelled review"] * 10}).to_parquet(tmp_path / "unsup.parquet")
    cfg = compose_config("train", tmp_path, [f"data.path={imdb_dir}", *QUICK, f"data.unlabelled_path={tmp_path / 'unsup.parquet'}",
                                             "trainer.max_epochs=1"])
    with pytest.warns(UserWarning, match="data.unlabelled_path is read only by virtual adversarial training"):
        train(cfg)
