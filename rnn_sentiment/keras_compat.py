"""Keras' arithmetic where PyTorch's differs: its initialisation, one bias per gate, its Adam update
and its probability-space losses.

`benchmarks/keras_parity.py` checks both against Keras itself, step by step.
"""

import math

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

if TYPE_CHECKING:
    from rnn_sentiment.network import RecurrentClassifier

KERAS_EPSILON = 1e-7  # keras.backend.epsilon()
LOSSES = ("logits", "clipped")
ADAMS = ("torch", "keras")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # weight blocks per cell in PyTorch's RNN matrices


@torch.no_grad()
def keras_initialize(net: "RecurrentClassifier", whole_recurrent_matrix: bool) -> None:
    """Keras' defaults for `net`: small uniform embeddings, Glorot kernels, orthogonal recurrent
    weights, zero biases and, for the LSTM, a forget-gate bias of 1. PyTorch's own
    (unit-normal embeddings, uniform ±1/√h everywhere) trains the Elman RNN worse.

    Keras draws the recurrent kernel (h, gates·h) as one orthogonal matrix, so each gate's
    block has singular values below 1 (`whole_recurrent_matrix`, `init=keras_exact`);
    `init=keras` makes each gate's (h, h) block orthogonal on its own.
    """
    nn.init.uniform_(net.embedding.weight, -0.05, 0.05)
    if net.embedding.padding_idx is not None:
        net.embedding.weight[net.embedding.padding_idx].zero_()
    for name, weight in net.rnn.named_parameters():
        name = name.rsplit(".", 1)[-1]
        if name.startswith("weight_ih"):
            nn.init.xavier_uniform_(weight)
        elif name.startswith("weight_hh"):
            for block in [weight] if whole_recurrent_matrix else weight.chunk(GATES[net.cell]):
                nn.init.orthogonal_(block)
        else:
            nn.init.zeros_(weight)
            if net.cell == "lstm" and name.startswith("bias_ih"):
                weight[net.hidden_size : 2 * net.hidden_size] = 1.0
    layers = [net.head] + ([net.conv[0]] if net.conv is not None else [])
    for layer in layers:
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)


@torch.no_grad()
def freeze_second_bias(rnn: nn.Module) -> None:
    """Fix every `bias_hh` of `rnn` at zero, untrained: each gate keeps one bias (`bias_ih`), as in
    Keras. Trained, the two vectors are two Adam-normalised steps on one sum: twice Keras' bias step."""
    for name, weight in rnn.named_parameters():
        if name.rsplit(".", 1)[-1].startswith("bias_hh"):
            weight.zero_()
            weight.requires_grad_(False)


def binary_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean binary cross-entropy of (batch,) logits against (batch,) 0/1 labels.

    `logits`: from the logits, as `torch` and Keras 3 on TensorFlow (which finds the sigmoid's
    logits) compute it. `clipped`: from sigmoid probabilities clipped to [1e-7, 1 - 1e-7], as
    Keras 2 (the tutorial's) and Keras 3 on JAX or PyTorch do: a text whose logit lies beyond
    ±16.1 gets no gradient, even when it is wrong.
    """
    if kind == "logits":
        return F.binary_cross_entropy_with_logits(logits, labels)
    p = torch.sigmoid(logits).clamp(KERAS_EPSILON, 1 - KERAS_EPSILON)
    return -(labels * p.log() + (1 - labels) * (1 - p).log()).mean()


def categorical_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean cross-entropy of (batch, classes) logits against (batch,) class ids, as `binary_cross_entropy`
    for more than two classes: `logits` from the log-softmax; `clipped` from softmax probabilities
    clipped to [1e-7, 1 - 1e-7], as Keras 2's `categorical_crossentropy`."""
    if kind == "logits":
        return F.cross_entropy(logits, labels)
    p = torch.softmax(logits, dim=-1).clamp(KERAS_EPSILON, 1 - KERAS_EPSILON)
    return -p.gather(1, labels.unsqueeze(1)).log().mean()


class KerasAdam(torch.optim.Optimizer):
    """Adam as Keras updates: `p -= lr·√(1-β₂ᵗ)/(1-β₁ᵗ) · m / (√v + ε)`.

    PyTorch adds ε to the bias-corrected √v̂ instead, so Keras' ε acts as ε/√(1-β₂ᵗ): about 32ε
    at the first step, falling towards ε over a few thousand steps (Kingma & Ba's ε̂).
    `weight_decay` is added to the gradient, as `torch.optim.Adam` does.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = KERAS_EPSILON, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        """One Adam update of every parameter with a gradient, as Keras computes it."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if group["weight_decay"]:
                    grad = grad.add(param, alpha=group["weight_decay"])
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["step"] += 1
                m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                m.lerp_(grad, 1 - beta1)
                v.lerp_(grad.square(), 1 - beta2)
                alpha = group["lr"] * math.sqrt(1 - beta2**t) / (1 - beta1**t)
                param.addcdiv_(m, v.sqrt().add_(group["eps"]), value=-alpha)
        return loss
