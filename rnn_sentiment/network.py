"""The tutorial's three classifiers as one network: Embedding → [Conv1d → MaxPool] → RNN → pool → Linear."""

import torch
from torch import nn
from torch.nn import functional as F

from rnn_sentiment.core.errors import UserInputError, check_choice
from rnn_sentiment.elman import ElmanRNN
from rnn_sentiment.keras_compat import freeze_second_bias, keras_initialize
from rnn_sentiment.fast_padding import reads_padding_once, shared_padding_outputs

CELLS = {"rnn": ElmanRNN, "lstm": nn.LSTM, "gru": nn.GRU}
INITS = ("keras", "keras_exact", "torch")
POOLINGS = ("last", "max", "mean", "concat")


def reverse_texts(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Each row's real steps in reverse order, padding left where it was (its own inverse).

    Without lengths the whole row is reversed (the tutorial's pre-padded setting, as Keras does);
    with lengths the rows are post-padded and only their first `length` steps are reversed.
    """
    if lengths is None:
        return x.flip(1)
    steps = torch.arange(x.shape[1], device=x.device)
    ends = lengths.to(x.device).unsqueeze(1)
    index = torch.where(steps < ends, ends - 1 - steps, steps)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class BidirectionalRNN(nn.Module):
    """A bidirectional RNN run as two unidirectional ones per layer, the backward one over each
    text reversed within its length. It computes what a packed `bidirectional=True` RNN does, but
    keeps PyTorch's unpacked kernels: on the CPU the packed path is an order of magnitude slower."""

    def __init__(self, cell: type[nn.RNNBase], input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        sizes = [input_size] + [2 * hidden_size] * (num_layers - 1)
        self.forward_layers = nn.ModuleList(cell(size, hidden_size, batch_first=True) for size in sizes)
        self.backward_layers = nn.ModuleList(cell(size, hidden_size, batch_first=True) for size in sizes)
        self.between_layers = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        for depth, (forward, backward) in enumerate(zip(self.forward_layers, self.backward_layers)):
            if depth:
                x = self.between_layers(x)
            ahead, _ = forward(x)
            behind, _ = backward(reverse_texts(x, lengths))
            x = torch.cat([ahead, reverse_texts(behind, lengths)], dim=-1)
        return x


class RecurrentClassifier(nn.Module):
    """`cell=rnn` is the tutorial's Elman network, `lstm` its LSTM, `conv_channels>0` its Conv-LSTM.

    `forward(tokens, lengths)` gives (batch,) logits for two classes (the second
    class's log-odds), (batch, num_classes) for more. Without lengths the rows are
    read whole (the tutorial's pre-padded setting); with lengths they are
    post-padded and padding never reaches the result. `pooling` sums the RNN's outputs up for the head:
    `last` (the tutorial: the state after the last real token, and for a
    bidirectional RNN the backward state after the first), `max`/`mean`
    over the real steps, or `concat`: last, max and mean side by side (ULMFiT's).
    `bptt` > 0 runs the RNN over windows of that many steps, the state carried
    from one to the next without gradient (truncated backpropagation through
    long texts); the outputs are the same. `normalize_embeddings` standardizes
    the embedding matrix per dimension, each word weighted by its count in the
    training split (`word_counts`, set when training starts), as adversarial
    training needs (Miyato et al., 2017): a perturbation's size then means the
    same whatever the vectors' scale.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int = 2,
        cell: str = "lstm",
        embed_dim: int = 32,
        hidden_size: int = 100,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        conv_channels: int = 0,
        conv_kernel: int = 3,
        pool_size: int = 2,
        init: str = "keras",
        pooling: str = "last",
        keras_padding_embedding: bool = False,
        single_bias: bool = False,
        fast_padding: bool = True,
        bptt: int = 0,
        normalize_embeddings: bool = False,
    ):
        super().__init__()
        check_choice("model.net.cell", cell, CELLS)
        check_choice("model.net.pooling", pooling, POOLINGS)
        check_choice("model.net.init", init, INITS)
        self.cell = cell
        self.pooling = pooling
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.directions = 2 if bidirectional else 1
        self.fast_padding = fast_padding
        if bptt < 0 or (bptt and bidirectional):
            raise UserInputError(f"model.net.bptt={bptt} must be 0 (off), or positive with a unidirectional RNN")
        self.bptt = bptt
        # Keras' tutorial Embedding has no mask: id 0 is a trained vector like any other.
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=None if keras_padding_embedding else 0)
        self.normalize_embeddings = normalize_embeddings
        if normalize_embeddings:
            self.register_buffer("word_counts", torch.ones(vocab_size))
        self.conv = None
        rnn_input = embed_dim
        if conv_channels:
            self.conv = nn.Sequential(
                nn.Conv1d(embed_dim, conv_channels, conv_kernel, padding="same"),
                nn.ReLU(),
                nn.MaxPool1d(pool_size),
            )
            self.pool_size = pool_size
            rnn_input = conv_channels
        if bidirectional:
            self.rnn = BidirectionalRNN(CELLS[cell], rnn_input, hidden_size, num_layers, dropout)
        else:
            self.rnn = CELLS[cell](
                rnn_input, hidden_size, num_layers=num_layers, batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0,
            )
        self.dropout = nn.Dropout(dropout)
        if not 0 <= input_dropout < 1:
            raise UserInputError(f"model.net.input_dropout={input_dropout} must lie in [0, 1)")
        self.input_dropout = input_dropout
        # two classes: one logit (the second class's log-odds), as the tutorial; more: one per class
        outputs = 1 if num_classes == 2 else num_classes
        self.head = nn.Linear(hidden_size * self.directions * (3 if pooling == "concat" else 1), outputs)
        if init != "torch":
            keras_initialize(self, whole_recurrent_matrix=init == "keras_exact")
        if single_bias:
            freeze_second_bias(self.rnn)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None and reads_padding_once(self):
            outputs = shared_padding_outputs(self, tokens)
            if outputs is not None:
                return self.head(self.dropout(self.pool(outputs, None))).squeeze(-1)
        return self.from_embeddings(self.embed(tokens), lengths)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """The (batch, steps, embed_dim) vectors of `tokens` (batch, steps), normalized with `normalize_embeddings`."""
        if not self.normalize_embeddings:
            return self.embedding(tokens)
        mean, deviation = self.embedding_statistics()
        return F.embedding(tokens, (self.embedding.weight - mean) / deviation)

    def embedding_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (embed_dim,) mean and standard deviation of the embedding's rows, each word weighted by
        its training count (`word_counts`): what `normalize_embeddings` standardizes with."""
        weight = self.embedding.weight
        share = self.word_counts / self.word_counts.sum()
        mean = share @ weight
        return mean, (share @ (weight - mean).square() + 1e-9).sqrt()

    def from_embeddings(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The logits from embedded texts `x` (batch, steps, embed_dim), as `embed` gives them: the
        network after its embedding, which adversarial training feeds perturbed vectors."""
        if self.input_dropout:
            x = F.dropout(x, self.input_dropout, self.training)
        if self.conv is not None:
            x = self.conv_block(x)
            if lengths is not None:
                lengths = lengths // self.pool_size
        if lengths is not None:
            lengths = lengths.clamp(min=1, max=x.shape[1])
        if self.directions == 2:
            outputs = self.rnn(x, lengths)
        else:
            # Outputs before a text's end never see its padding, so reading them
            # is exact and keeps the fast non-packed kernels.
            outputs = self.run_rnn(x)
        return self.head(self.dropout(self.pool(outputs, lengths))).squeeze(-1)

    def run_rnn(self, x: torch.Tensor, state=None) -> torch.Tensor:
        """The unidirectional RNN's outputs (batch, steps, hidden) over `x` (batch, steps, features),
        a `bptt` window at a time when set."""
        if not self.bptt:
            return self.rnn(x, state)[0]
        outputs = []
        for window in x.split(self.bptt, dim=1):
            output, state = self.rnn(window, state)
            outputs.append(output)
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        return torch.cat(outputs, dim=1)

    def conv_block(self, x: torch.Tensor) -> torch.Tensor:
        """Conv1d → ReLU → MaxPool1d over (batch, steps, channels), batch-first in and out."""
        return self.conv(x.transpose(1, 2)).transpose(1, 2)

    def pool(self, outputs: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """(batch, steps, hidden·directions) outputs → (batch, hidden·directions), ×3 for `concat`."""
        if self.pooling == "concat":
            return torch.cat([self.pool_as(kind, outputs, lengths) for kind in ("last", "max", "mean")], dim=1)
        return self.pool_as(self.pooling, outputs, lengths)

    def pool_as(self, pooling: str, outputs: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        batch, steps, _ = outputs.shape
        ends = torch.full((batch,), steps, device=outputs.device) if lengths is None else lengths.to(outputs.device)
        if pooling == "last":
            last = outputs[torch.arange(batch, device=outputs.device), ends - 1]
            if self.directions == 1:
                return last
            return torch.cat([last[:, : self.hidden_size], outputs[:, 0, self.hidden_size :]], dim=1)
        real = (torch.arange(steps, device=outputs.device) < ends.unsqueeze(1)).unsqueeze(-1)
        if pooling == "max":
            return outputs.masked_fill(~real, float("-inf")).amax(dim=1)
        return (outputs * real).sum(dim=1) / ends.unsqueeze(1).to(outputs.dtype)
