"""The options that make the package compute what Keras computes (experiment=tutorial selects them)."""

import math

import pytest
import torch
from hydra.utils import instantiate

from conftest import QUICK, compose_config
from rnn_sentiment.core.checkpoints import load_module
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.training import train
from rnn_sentiment.keras_compat import KerasAdam, binary_cross_entropy
from rnn_sentiment.module import SentimentClassifier
from rnn_sentiment.network import RecurrentClassifier


def test_tutorial_experiment_selects_keras_arithmetic(tmp_path):
    cfg = compose_config("train", tmp_path, ["experiment=tutorial", "model=conv_lstm"])
    module = instantiate(cfg.model, vocab_size=100)
    hp = module.hparams
    assert (hp.net["init"], hp.net["keras_padding_embedding"], hp.net["single_bias"], hp.adam, hp.adam_eps, hp.loss) == (
        "keras_exact", True, True, "keras", 1e-7, "logits")
    assert isinstance(module.configure_optimizers(), KerasAdam)
    default = instantiate(compose_config("train", tmp_path, []).model, vocab_size=100)
    assert (default.hparams.net["init"], default.hparams.adam, default.hparams.net["single_bias"]) == (
        "keras", "torch", False)
    assert isinstance(default.configure_optimizers(), torch.optim.Adam)


@pytest.mark.slow
def test_tutorial_experiment_trains_resumes_its_optimizer_and_predicts(tmp_path, imdb_dir):
    cfg = compose_config("train", tmp_path, ["experiment=tutorial", "model=conv_lstm", f"data.path={imdb_dir}",
                                             *QUICK, "data.max_len=40", "model.lr=0.01", "trainer.max_epochs=4"])
    assert train(cfg) > 0.9
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(checkpoint, weights_only=True)
    assert state["optimizer_states"][0]["state"][0]["step"] > 0  # Keras' Adam, saved with plain types
    module = load_module(str(checkpoint), SentimentClassifier, "sentiment")
    assert not module.net.rnn.bias_hh_l0.requires_grad and torch.all(module.net.rnn.bias_hh_l0 == 0)
    good, bad = module.predict_proba(["The movie was great and wonderful. Really!",
                                      "The film was awful and boring. Really!"]).tolist()
    assert good > 0.5 > bad


def test_keras_padding_embedding_is_a_trained_vector():
    keras_like = RecurrentClassifier(50, keras_padding_embedding=True)
    assert keras_like.embedding.weight[0].abs().min() > 0
    keras_like(torch.zeros(2, 5, dtype=torch.long)).sum().backward()
    assert keras_like.embedding.weight.grad[0].abs().sum() > 0
    default = RecurrentClassifier(50)
    assert torch.all(default.embedding.weight[0] == 0)
    default(torch.zeros(2, 5, dtype=torch.long)).sum().backward()
    assert torch.all(default.embedding.weight.grad[0] == 0)


@pytest.mark.parametrize("cell, gates", [("lstm", 4), ("gru", 3)])
def test_keras_exact_draws_one_orthogonal_recurrent_matrix(cell, gates):
    torch.manual_seed(0)
    whole = RecurrentClassifier(50, cell=cell, hidden_size=8, init="keras_exact").rnn.weight_hh_l0
    torch.testing.assert_close(whole.T @ whole, torch.eye(8), atol=1e-5, rtol=0)  # Keras: K Kᵀ = I, K = Wᵀ
    per_gate = RecurrentClassifier(50, cell=cell, hidden_size=8, init="keras").rnn.weight_hh_l0
    torch.testing.assert_close(per_gate.T @ per_gate, gates * torch.eye(8), atol=1e-5, rtol=0)


def test_single_bias_fixes_the_second_bias_at_zero_and_leaves_it_out_of_adam():
    module = SentimentClassifier(50, {"cell": "lstm", "hidden_size": 8, "single_bias": True})
    bias_hh = module.net.rnn.bias_hh_l0
    optimizer = module.configure_optimizers()
    assert not bias_hh.requires_grad
    assert torch.all(module.net.rnn.bias_ih_l0[8:16] == 1)  # the forget-gate bias lives in bias_ih
    assert all(p is not bias_hh for group in optimizer.param_groups for p in group["params"])
    module(torch.randint(1, 50, (3, 6))).sum().backward()
    optimizer.step()
    assert torch.all(bias_hh == 0) and bias_hh.grad is None


def test_keras_adam_puts_epsilon_where_keras_does():
    lr, eps, (b1, b2) = 1e-3, 1e-7, (0.9, 0.999)
    grads = [1e-6, -3e-6]
    param = torch.zeros(1, requires_grad=True)
    optimizer = KerasAdam([param], lr=lr, eps=eps)
    expected, m, v = 0.0, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        param.grad = torch.tensor([g])
        optimizer.step()
        m, v = m + (g - m) * (1 - b1), v + (g * g - v) * (1 - b2)
        expected -= lr * math.sqrt(1 - b2**t) / (1 - b1**t) * m / (math.sqrt(v) + eps)
    assert param.item() == pytest.approx(expected, rel=1e-5)
    torch_param = torch.zeros(1, requires_grad=True)
    torch_adam = torch.optim.Adam([torch_param], lr=lr, eps=eps)
    for g in grads:
        torch_param.grad = torch.tensor([g])
        torch_adam.step()
    assert abs(torch_param.item() - expected) > 0.1 * abs(expected)  # a tiny gradient tells them apart


def test_clipped_loss_stops_at_keras_epsilon():
    logits = torch.tensor([30.0, -30.0, 2.0], requires_grad=True)
    labels = torch.tensor([0.0, 1.0, 1.0])
    clipped = binary_cross_entropy(logits, labels, "clipped")
    clipped.backward()
    top = float(torch.tensor(1 - 1e-7))  # float32 rounds 1 - 1e-7 to 1 - 1.19e-7
    expected = -math.log(1 - top) - math.log(1e-7) + math.log1p(math.exp(-2))
    assert clipped.item() == pytest.approx(expected / 3, rel=1e-5)
    assert logits.grad[0] == 0 and logits.grad[1] == 0 and logits.grad[2] != 0
    assert binary_cross_entropy(logits, labels, "logits").item() == pytest.approx((30 + 30 + 0.126928) / 3, rel=1e-4)


@pytest.mark.parametrize("option, message", [
    ({"loss": "hinge"}, "model.loss='hinge' is unknown; use one of logits, clipped"),
    ({"adam": "sgd"}, "model.adam='sgd' is unknown; use one of torch, keras"),
    ({"adam_eps": 0.0}, "model.adam_eps=0.0 must be positive"),
    ({"init": "glorot"}, "model.net.init='glorot' is unknown; use one of keras, keras_exact, torch"),
])
def test_unknown_keras_options_name_the_choices(option, message):
    with pytest.raises(UserInputError, match=message.replace("(", r"\(")):
        options = {"net": option} if "init" in option else {"net": {}, **option}
        SentimentClassifier(50, **options)
