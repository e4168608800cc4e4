"""The fine-tuning schedule of ULMFiT (Howard & Ruder, 2018): layer groups trained with learning
rates that shrink towards the input (discriminative learning rates), unfrozen one group per epoch
from the top (gradual unfreezing), and a learning rate that rises, then falls (slanted triangular)."""

import re
from collections.abc import Callable

from torch import nn

from rnn_sentiment.core.errors import UserInputError, check_choice

SCHEDULES = ("constant", "slanted_triangular")
SLANTED_RATIO = 32  # ULMFiT's: the lowest learning rate is 1/32 of the peak


def check_fine_tuning_options(lr_layer_decay: float, schedule: str, warmup_fraction: float) -> None:
    if not lr_layer_decay >= 1:
        raise UserInputError(f"model.lr_layer_decay={lr_layer_decay} must be at least 1 (1: one learning rate)")
    check_choice("model.schedule", schedule, SCHEDULES)
    if not 0 < warmup_fraction < 1:
        raise UserInputError(f"model.warmup_fraction={warmup_fraction} must lie strictly between 0 and 1")


def layer_groups(net: nn.Module) -> list[list[nn.Parameter]]:
    """The classifier's parameters in groups from the output down: the head, each recurrent layer
    from the last to the first, then the embedding (with the convolution, if any)."""
    head = list(net.head.parameters())
    by_layer: dict[int, list[nn.Parameter]] = {}
    bottom = []
    for name, parameter in net.named_parameters():
        if name.startswith("head."):
            continue
        # `rnn.weight_ih_l1`, or `rnn.forward_layers.1.weight_ih_l0` in a bidirectional RNN
        found = re.match(r"rnn\.(?:\w+_layers\.(\d+)\.\w+|\w+_l(\d+))$", name)
        if found is None:
            bottom.append(parameter)
        else:
            by_layer.setdefault(int(found[1] or found[2]), []).append(parameter)
    return [head, *(by_layer[depth] for depth in sorted(by_layer, reverse=True)), bottom]


def slanted_triangular(total_steps: int, warmup_fraction: float) -> Callable[[int], float]:
    """The learning-rate factor at each step: from 1/32 up to 1 over the first `warmup_fraction` of
    `total_steps`, then linearly back down to 1/32 at the last step."""
    peak = max(1, round(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        rising = step / peak if step < peak else 1 - (step - peak) / max(1, total_steps - peak)
        return (1 + max(0.0, rising) * (SLANTED_RATIO - 1)) / SLANTED_RATIO

    return factor
