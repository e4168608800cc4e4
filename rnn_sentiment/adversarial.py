"""Adversarial and virtual adversarial training on the word embeddings (Miyato, Dai & Goodfellow,
2017, "Adversarial training methods for semi-supervised text classification").

Both move each text's embedded words `x` (batch, steps, embed_dim) by a perturbation of L2 norm
`epsilon` over the whole text (its padding left alone) and train the classifier to answer the same:

- adversarial: along the gradient of the loss (the direction that raises it most, to first
  order); the loss of the perturbed text is added to the loss;
- virtual adversarial: along the direction that changes the predicted distribution most, found
  by one power iteration from a random direction; needs no label, and the KL divergence from the
  clean prediction (held fixed) to the perturbed one is added.

The embeddings should be normalized (`model.net.normalize_embeddings`), so that `epsilon` is
measured on a fixed scale the network cannot grow away from.
"""

import torch
from torch.nn import functional as F

from rnn_sentiment.core.errors import UserInputError

XI = 0.1  # the power iteration's finite-difference step (Miyato et al.'s code: small_constant_for_finite_diff)


def check_adversarial_options(adversarial: float, virtual_adversarial: float, normalized: bool) -> None:
    """One-line errors for a negative size, or a perturbation of embeddings that are not normalized."""
    for name, epsilon in {"adversarial": adversarial, "virtual_adversarial": virtual_adversarial}.items():
        if not epsilon >= 0:
            raise UserInputError(f"model.{name}={epsilon} must be 0 (off) or a positive norm, e.g. 5.0")
        if epsilon and not normalized:
            raise UserInputError(
                f"model.{name}={epsilon} perturbs normalized embeddings; set model.net.normalize_embeddings=true"
            )


def unit_per_text(direction: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """`direction` (batch, steps, dim) zeroed at padding (`real`: (batch, steps, 1)) and scaled to L2
    norm 1 over each text."""
    direction = direction * real
    norm = direction.flatten(1).norm(dim=1).clamp_min(1e-12)
    return direction / norm.view(-1, 1, 1)


def divergence(clean: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
    """Mean KL(p_clean ‖ p_perturbed) of logits: (batch,) for two classes (a sigmoid), else (batch, classes)."""
    if clean.dim() == 1:
        clean, perturbed = (torch.stack([torch.zeros_like(z), z], dim=-1) for z in (clean, perturbed))
    return F.kl_div(F.log_softmax(perturbed.float(), -1), F.log_softmax(clean.float(), -1), reduction="batchmean",
                    log_target=True)


def adversarial_loss(net, x: torch.Tensor, real: torch.Tensor, lengths, loss: torch.Tensor, loss_of,
                     epsilon: float) -> torch.Tensor:
    """`loss_of(logits)` of `x` moved by `epsilon` along the gradient of `loss` with respect to `x`
    (which `loss` must have been computed from). `net` is the `RecurrentClassifier`."""
    (gradient,) = torch.autograd.grad(loss, x, retain_graph=True)
    return loss_of(net.from_embeddings(x + epsilon * unit_per_text(gradient, real), lengths))


def virtual_adversarial_loss(net, x: torch.Tensor, real: torch.Tensor, lengths, logits: torch.Tensor,
                             epsilon: float) -> torch.Tensor:
    """KL from the clean prediction `logits` (of `x`) to that of `x` moved by `epsilon` in the
    direction that changes it most; the weights get gradients only through the perturbed pass."""
    clean = logits.detach()
    step = (XI * unit_per_text(torch.randn_like(x), real)).requires_grad_()
    (gradient,) = torch.autograd.grad(divergence(clean, net.from_embeddings(x.detach() + step, lengths)), step)
    return divergence(clean, net.from_embeddings(x + epsilon * unit_per_text(gradient, real), lengths))
