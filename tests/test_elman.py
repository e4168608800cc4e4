"""rnn_sentiment/elman.py: the fused CPU recurrence computes what nn.RNN computes, outputs and gradients."""

import pytest
import torch
from torch import nn

from rnn_sentiment.elman import ElmanRNN
from rnn_sentiment.network import RecurrentClassifier

SETTINGS = {
    "one_layer": {"num_layers": 1},
    "two_layers": {"num_layers": 2},
    "two_layers_time_first": {"num_layers": 2, "batch_first": False},
    "dropout_in_eval": {"num_layers": 2, "dropout": 0.5},
}


def twins(settings: dict, seed: int = 0) -> tuple[nn.RNN, ElmanRNN]:
    torch.manual_seed(seed)
    options = {"batch_first": True, **settings}
    reference = nn.RNN(5, 7, **options).double()
    fused = ElmanRNN(5, 7, **options).double()
    fused.load_state_dict(reference.state_dict())
    return reference, fused


def run(rnn: nn.RNN, x: torch.Tensor, h0: torch.Tensor | None, reads: str = "all") -> list[torch.Tensor]:
    """Outputs, final state and every gradient of a loss that reads all outputs and the final state,
    or (`reads="some"`) two of the steps' outputs only, as `last` pooling reads one."""
    x = x.clone().requires_grad_()
    h0 = None if h0 is None else h0.clone().requires_grad_()
    output, final = rnn(x, h0)
    weights = torch.linspace(-1, 1, output.numel(), dtype=output.dtype).view_as(output)
    if reads == "some":
        steps = output.shape[1] if rnn.batch_first else output.shape[0]
        read = torch.zeros(steps, dtype=output.dtype)
        read[[2, steps - 3]] = 1  # unread steps before, between and after
        weights = weights * (read.view(1, -1, 1) if rnn.batch_first else read.view(-1, 1, 1))
        final = final.detach()
    ((output * weights).sum() + final.square().sum()).backward()
    grads = [x.grad] + ([] if h0 is None else [h0.grad])
    return [output, final, *grads, *(p.grad for p in rnn.parameters())]


@pytest.mark.parametrize("reads", ["all", "some"])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("setting", SETTINGS)
def test_outputs_and_gradients_are_nn_rnns(setting, with_state, reads):
    reference, fused = twins(SETTINGS[setting])
    reference.eval(), fused.eval()
    layers, time_first = SETTINGS[setting]["num_layers"], not SETTINGS[setting].get("batch_first", True)
    x = torch.randn(11, 3, 5, dtype=torch.float64)  # 11 steps of 3 texts, laid out as the setting says
    if not time_first:
        x = x.transpose(0, 1)
    h0 = torch.randn(layers, 3, 7, dtype=torch.float64) if with_state else None
    for expected, got in zip(run(reference, x, h0, reads), run(fused, x, h0, reads), strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_the_cpu_path_is_fused_and_other_cases_go_to_nn_rnn(monkeypatch):
    _, fused = twins({"num_layers": 2})
    calls = []
    original = nn.RNN.forward
    monkeypatch.setattr(nn.RNN, "forward", lambda self, *args: calls.append(1) or original(self, *args))
    x = torch.randn(2, 4, 5, dtype=torch.float64)
    fused(x)
    assert calls == []  # no call of nn.RNN's own recurrence
    fused.float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused(x.float())
    fused(x.float()[0])  # unbatched input
    assert calls == [1, 1]


@pytest.mark.parametrize("settings, dtype, fused", [
    ({}, torch.float32, True),
    ({}, torch.bfloat16, False),
    ({"nonlinearity": "relu"}, torch.float32, False),
    ({"bidirectional": True}, torch.float32, False),
    ({"bias": False}, torch.float32, False),
])
def test_what_takes_the_fused_path(settings, dtype, fused):
    rnn = ElmanRNN(5, 7, batch_first=True, **settings).to(dtype)
    assert rnn.uses_fused_path(torch.zeros(2, 4, 5, dtype=dtype)) is fused
    assert not rnn.uses_fused_path(torch.zeros(2, 4, 5, dtype=dtype, device="meta"))
    packed = nn.utils.rnn.pack_padded_sequence(torch.zeros(2, 4, 5, dtype=dtype), [4, 2], batch_first=True)
    assert not rnn.uses_fused_path(packed)


def test_the_elman_classifier_and_its_padding_pass_run_the_fused_recurrence(monkeypatch):
    net = RecurrentClassifier(50, cell="rnn", embed_dim=5, hidden_size=7, fast_padding=True)
    shapes = []
    monkeypatch.setattr(nn.RNN, "forward", lambda *args: pytest.fail("nn.RNN's own recurrence ran"))
    net.rnn.register_forward_hook(lambda module, inputs, output: shapes.append(tuple(inputs[0].shape[:2])))
    tokens = torch.zeros(3, 12, dtype=torch.long)
    tokens[:, 8:] = torch.randint(1, 50, (3, 4))  # pre-padded: eight shared padding columns
    net(tokens).sum().backward()
    assert shapes == [(1, 8), (3, 4)]  # the padding once at batch size 1, then the batch


def test_a_state_of_the_wrong_shape_is_refused_as_nn_rnn_refuses_it():
    _, fused = twins({"num_layers": 2})
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        fused(torch.randn(3, 4, 5, dtype=torch.float64), torch.zeros(3, 3, 7, dtype=torch.float64))


def test_dropout_between_layers_acts_in_training_only_and_not_on_the_last_layer():
    _, fused = twins({"num_layers": 2, "dropout": 0.5})
    fused.train()
    torch.manual_seed(1)
    first, final = fused(torch.randn(4, 6, 5, dtype=torch.float64))
    torch.testing.assert_close(first[:, -1], final[-1])  # the last layer's outputs are its states
    torch.manual_seed(1)
    second, _ = fused(torch.randn(4, 6, 5, dtype=torch.float64))
    torch.testing.assert_close(first, second)  # seeded: reproducible
    fused.eval()
    torch.manual_seed(1)
    evaluated, _ = fused(torch.randn(4, 6, 5, dtype=torch.float64))
    assert not torch.allclose(first, evaluated)  # dropout acted in training only
