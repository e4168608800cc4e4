"""Word-level LSTM language model: Embedding → LSTM layers → softmax over the vocabulary.

With every regularisation option at 0 and `adaptive_cutoffs` unset it is the tutorial's model
(and pytorch/examples' word_language_model). The AWD-LSTM options (Merity et al., 2018) are
embedding dropout (whole words dropped from the embedding matrix), weight dropout (DropConnect
on the hidden-to-hidden matrices, one mask per forward pass) and locked dropout (one mask per
sequence, shared by all its time steps). `adaptive_cutoffs` replaces the full softmax with
`nn.AdaptiveLogSoftmaxWithLoss`, whose cost hardly grows with the vocabulary: ids must then be
ranked by frequency, as `WordTokenizer` ranks them.
"""

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from rnn_sentiment.core.errors import UserInputError

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (num_layers, batch, hidden_size)


def locked_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout of (batch, time, features) with one mask per row, the same at every time step."""
    if not training or p == 0:
        return x
    mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - p) / (1 - p)
    return x * mask


def _full_precision(x: torch.Tensor):
    """Autocast off on `x`'s device: under autocast `AdaptiveLogSoftmaxWithLoss` mixes a low-precision
    and a float32 tensor in one `index_copy_` and fails (bf16-mixed on a GPU did), so it runs in float32
    (its matrices are small)."""
    return torch.autocast(x.device.type, enabled=False)


class WordLSTM(nn.Module):
    """Embedding(vocab, embed_dim) → `num_layers` LSTM(hidden_size) → softmax over the vocabulary.

    `dropout` applies to the embeddings, between layers and to the last layer's outputs (locked
    across time with `locked_dropout`); `embed_dropout` drops whole words; `weight_dropout` drops
    entries of each layer's hidden-to-hidden matrix. The layers are kept as separate one-layer
    LSTMs (so dropout can sit between them); checkpoints of the earlier single multi-layer
    `lstm` load unchanged.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 100,
        hidden_size: int = 500,
        num_layers: int = 1,
        dropout: float = 0.0,
        tie_weights: bool = False,
        embed_dropout: float = 0.0,
        weight_dropout: float = 0.0,
        locked_dropout: bool = False,
        adaptive_cutoffs: list[int] | None = None,
    ):
        super().__init__()
        if num_layers < 1:
            raise UserInputError(f"model.net.num_layers={num_layers} must be at least 1")
        for name, p in {"dropout": dropout, "embed_dropout": embed_dropout, "weight_dropout": weight_dropout}.items():
            if not 0 <= p < 1:
                raise UserInputError(f"model.net.{name}={p} must lie in [0, 1)")
        self.dropout = dropout
        self.embed_dropout = embed_dropout
        self.weight_dropout = weight_dropout
        self.locked = locked_dropout
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        sizes = [embed_dim] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.LSTM(size, hidden_size, batch_first=True) for size in sizes)
        self.adaptive = bool(adaptive_cutoffs)
        if self.adaptive:
            cutoffs = list(adaptive_cutoffs)
            if tie_weights:
                raise UserInputError("model.net.tie_weights cannot be used with model.net.adaptive_cutoffs; set one of them")
            if cutoffs != sorted(set(cutoffs)) or cutoffs[0] < 1 or cutoffs[-1] >= vocab_size:
                raise UserInputError(
                    f"model.net.adaptive_cutoffs={cutoffs} must increase strictly and lie between 1 and the vocabulary "
                    f"size - 1 ({vocab_size - 1}); e.g. [2000, 10000]"
                )
            self.decoder = nn.AdaptiveLogSoftmaxWithLoss(hidden_size, vocab_size, cutoffs, div_value=4.0)
        else:
            self.decoder = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            if embed_dim != hidden_size:
                raise UserInputError(
                    f"model.net.tie_weights needs model.net.embed_dim ({embed_dim}) == model.net.hidden_size ({hidden_size})"
                )
            self.decoder.weight = self.embedding.weight
        self.register_load_state_dict_pre_hook(_split_multilayer_lstm)

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        if self.locked:
            return locked_dropout(x, self.dropout, self.training)
        return F.dropout(x, self.dropout, self.training)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        weight = self.embedding.weight
        if self.training and self.embed_dropout > 0:
            keep = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - self.embed_dropout)
            weight = weight * keep / (1 - self.embed_dropout)
        return F.embedding(tokens, weight)

    def _run_layer(self, layer: nn.LSTM, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        if not (self.training and self.weight_dropout > 0):
            return layer(x, state)
        weights = dict(layer.named_parameters())
        weights["weight_hh_l0"] = F.dropout(weights["weight_hh_l0"], self.weight_dropout, training=True)
        return functional_call(layer, weights, (x, state))

    def features(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """The last layer's outputs (batch, time, hidden_size), after dropout, and the state after
        the last token; `state` as returned by the previous call (None: zeros)."""
        x = self._drop(self._embed(tokens))
        finals = []
        for depth, layer in enumerate(self.layers):
            if depth:
                x = self._drop(x)
            layer_state = None if state is None else (state[0][depth : depth + 1], state[1][depth : depth + 1])
            x, final = self._run_layer(layer, x, layer_state)
            finals.append(final)
        h, c = (torch.cat(parts) for parts in zip(*finals))
        return self._drop(x), (h, c)

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits (batch, time, vocab) (with the adaptive softmax: log-probabilities, which are
        logits of the same distribution) and the state after the last token."""
        x, state = self.features(tokens, state)
        if not self.adaptive:
            return self.decoder(x), state
        with _full_precision(x):
            return self.decoder.log_prob(x.flatten(0, 1).float()).unflatten(0, x.shape[:2]), state

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Mean negative log-likelihood of `targets` (batch, time) after `tokens` (batch, time), and
        the state; the adaptive softmax scores only the targets' clusters."""
        x, state = self.features(tokens, state)
        if self.adaptive:
            with _full_precision(x):
                return -self.decoder(x.flatten(0, 1).float(), targets.flatten()).output.mean(), state
        return F.cross_entropy(self.decoder(x).flatten(0, 1), targets.flatten()), state


def _split_multilayer_lstm(module, state_dict, prefix, *_) -> None:
    """Rename an earlier checkpoint's `lstm.weight_ih_l1` (one multi-layer LSTM) to `layers.1.weight_ih_l0`."""
    for key in [k for k in state_dict if k.startswith(prefix + "lstm.")]:
        name, layer = key[len(prefix + "lstm.") :].rsplit("_l", 1)
        state_dict[f"{prefix}layers.{layer}.{name}_l0"] = state_dict.pop(key)
