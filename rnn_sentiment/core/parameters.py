"""A network's parameter count beside Keras' count of the same network, as a run reports it."""

from torch import nn


def second_biases(net: nn.Module) -> list[nn.Parameter]:
    """Every `bias_hh` of `net`'s recurrent layers: PyTorch's second bias per gate, which Keras lacks."""
    return [p for name, p in net.named_parameters() if name.rsplit(".", 1)[-1].startswith("bias_hh")]


def parameter_count(net: nn.Module) -> str:
    """E.g. `213,301 parameters (212,501 as Keras counts them: …)`; the tutorials' networks are Keras'."""
    total = sum(p.numel() for p in net.parameters())
    second = second_biases(net)
    fixed = ", fixed at zero here" if any(not p.requires_grad for p in second) else ""
    return (f"{total:,} parameters ({total - sum(p.numel() for p in second):,} as Keras counts them: "
            f"PyTorch RNNs carry a second bias per gate{fixed})")
