"""Sampling words from a language model: temperature, top-k, top-p, with the LSTM state carried."""

import warnings
from contextlib import contextmanager

import torch

from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.text import PAD_ID, UNK_ID


def check_sampling_options(n_words: int, temperature: float, top_k: int, top_p: float, num_samples: int) -> None:
    """A `UserInputError` naming the first option out of range."""
    if n_words < 0:
        raise UserInputError(f"n_words={n_words} must be 0 or more")
    if temperature < 0:
        raise UserInputError(f"temperature={temperature} must be 0 (greedy) or more")
    if top_k < 0:
        raise UserInputError(f"top_k={top_k} must be 0 (off) or more")
    if not 0 < top_p <= 1:
        raise UserInputError(f"top_p={top_p} must lie in (0, 1]; 1 turns it off")
    if num_samples < 1:
        raise UserInputError(f"num_samples={num_samples} must be at least 1")


def pick_next(logits: torch.Tensor, temperature: float, top_k: int, top_p: float, generator=None) -> torch.Tensor:
    """One id per row of `logits` (batch, vocab)."""
    logits = logits.float().clone()
    logits[:, [PAD_ID, UNK_ID]] = float("-inf")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True)
        before = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1) - torch.softmax(sorted_logits, dim=-1)
        sorted_logits = sorted_logits.masked_fill(before >= top_p, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    # Inverse-CDF sampling: one uniform number per row; torch.multinomial takes
    # ~14 ms for 64 rows of 10,001 words on 2 cores, this well under 1 ms.
    cdf = torch.softmax(logits, dim=-1).cumsum(dim=-1)
    uniform = 1 - torch.rand(len(cdf), 1, generator=generator, device=cdf.device)  # in (0, 1]
    picked = torch.searchsorted(cdf, uniform * cdf[:, -1:])
    return picked.squeeze(-1).clamp(max=cdf.shape[-1] - 1)


@contextmanager
def without_onednn():
    """oneDNN's RNN kernel costs milliseconds of set-up per call, which one-word steps pay every word."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the flags context also resets TF32 on oneDNN and says so
        with torch.backends.mkldnn.flags(enabled=False):
            yield


@torch.inference_mode()
def generate(
    net,
    seed_ids: list[int],
    n_words: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """`num_samples` continuations of `seed_ids` as one batch: ids of shape (num_samples, n_words).

    The whole seed is read first and the state is carried through every
    generated word, so each word is conditioned on everything before it.
    """
    check_sampling_options(n_words, temperature, top_k, top_p, num_samples)
    device = next(net.parameters()).device
    tokens = torch.tensor(seed_ids or [UNK_ID], device=device).repeat(num_samples, 1)
    logits, state = net(tokens)
    words = []
    with without_onednn():
        for _ in range(n_words):
            next_ids = pick_next(logits[:, -1], temperature, top_k, top_p, generator)
            words.append(next_ids)
            logits, state = net(next_ids[:, None], state)
    return torch.stack(words, dim=1) if words else torch.zeros(num_samples, 0, dtype=torch.long)
