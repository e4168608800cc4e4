"""The tutorial's three classifiers as one network: Embedding → [Conv1d → MaxPool] → RNN → pool → Linear."""

import torch
from torch import nn
from torch.nn import functional as F

from rnn_sentiment.core.errors import UserInputError, check_choice

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
INITS = ("keras", "keras_exact", "torch")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
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
    long texts); the outputs are the same.
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
            self.keras_init(whole_recurrent_matrix=init == "keras_exact")
        if single_bias:
            self.freeze_second_bias()

    @torch.no_grad()
    def keras_init(self, whole_recurrent_matrix: bool) -> None:
        """Keras' defaults: small uniform embeddings, Glorot kernels, orthogonal recurrent
        weights, zero biases and, for the LSTM, a forget-gate bias of 1. PyTorch's own
        (unit-normal embeddings, uniform ±1/√h everywhere) trains the Elman RNN worse.

        Keras draws the recurrent kernel (h, gates·h) as one orthogonal matrix, so each gate's
        block has singular values below 1 (`whole_recurrent_matrix`, `init=keras_exact`);
        `init=keras` makes each gate's (h, h) block orthogonal on its own.
        """
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        if self.embedding.padding_idx is not None:
            self.embedding.weight[self.embedding.padding_idx].zero_()
        for name, weight in self.rnn.named_parameters():
            name = name.rsplit(".", 1)[-1]
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(weight)
            elif name.startswith("weight_hh"):
                for block in [weight] if whole_recurrent_matrix else weight.chunk(GATES[self.cell]):
                    nn.init.orthogonal_(block)
            else:
                nn.init.zeros_(weight)
                if self.cell == "lstm" and name.startswith("bias_ih"):
                    weight[self.hidden_size : 2 * self.hidden_size] = 1.0
        layers = [self.head] + ([self.conv[0]] if self.conv is not None else [])
        for layer in layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    @torch.no_grad()
    def freeze_second_bias(self) -> None:
        """Fix every `bias_hh` at zero, untrained: each gate keeps one bias (`bias_ih`), as in Keras.
        Trained, the two vectors are two Adam-normalised steps on one sum: twice Keras' bias step."""
        for name, weight in self.rnn.named_parameters():
            if name.rsplit(".", 1)[-1].startswith("bias_hh"):
                weight.zero_()
                weight.requires_grad_(False)

    def extra_bias_parameters(self) -> int:
        """PyTorch's second bias vector per gate, which Keras' count does not have."""
        return GATES[self.cell] * self.hidden_size * self.num_layers * self.directions

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None and self.reads_padding_once():
            outputs = self.skip_shared_padding(tokens)
            if outputs is not None:
                return self.head(self.dropout(self.pool(outputs, None))).squeeze(-1)
        x = self.embedding(tokens)
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

    def reads_padding_once(self) -> bool:
        """Whether `skip_shared_padding` is exact: one direction, no dropout on the embeddings or
        between layers (which would give each row its own padding states) and no `bptt` windows
        (which the padding pass would shift, and so where gradients stop)."""
        dropout_between_layers = self.training and self.num_layers > 1 and self.rnn.dropout > 0
        dropout_of_inputs = self.training and self.input_dropout > 0
        return (self.fast_padding and self.directions == 1 and not dropout_between_layers and not dropout_of_inputs
                and not self.bptt)

    def skip_shared_padding(self, tokens: torch.Tensor) -> torch.Tensor | None:
        """The RNN outputs of pre-padded `tokens` (batch, steps, hidden), with the padding
        columns that every row shares run once for the whole batch: with `last` pooling only
        the steps after them, otherwise the shared steps' outputs come first, as usual.

        From the zero state, every row reads the same padding vector for the first columns,
        so its state there is one vector that depends only on the weights. It is computed by
        a batch-1 pass inside the autograd graph (gradients reach the weights and the padding
        embedding), and the batch starts from it. For the Conv-LSTM the skipped columns are a
        whole number of pooling windows, the batch's convolution starts a few windows earlier
        (so it sees the real neighbours of its first kept column) and drops them, and pooling
        groups the same absolute columns. Returns None when there is nothing to skip.
        """
        batch, steps = tokens.shape
        real_columns = tokens.ne(0).any(0).nonzero()
        shared = int(real_columns[0]) if len(real_columns) else steps  # leading all-padding columns
        if self.conv is None:
            skip = min(shared, steps - 1)  # read at least one column
            if skip < 1:
                return None
            prefix = self.embedding(tokens.new_zeros(1, skip))
            rest = self.embedding(tokens[:, skip:])
        else:
            window, kernel = self.pool_size, self.conv[0].kernel_size[0]
            left = (kernel - 1) // 2  # padding="same" puts the odd one on the right
            right = kernel - 1 - left
            early = window * -(-left // window)  # whole windows covering the left border
            # the prefix's last convolution must still see padding on its right
            skip = min(window * ((shared - right) // window), window * (steps // window - 1))
            if skip < max(early, window):
                return None
            prefix = self.conv_block(self.embedding(tokens.new_zeros(1, skip + right)))[:, : skip // window]
            rest = self.conv_block(self.embedding(tokens[:, skip - early :]))[:, early // window :]
        prefix_outputs, state = self.padding_pass(prefix)
        widen = lambda part: part.expand(-1, batch, -1).contiguous()  # noqa: E731
        outputs = self.run_rnn(rest, tuple(map(widen, state)) if isinstance(state, tuple) else widen(state))
        if self.pooling == "last":
            return outputs
        return torch.cat([prefix_outputs.expand(batch, -1, -1), outputs], dim=1)

    def padding_pass(self, prefix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, ...]]:
        """The RNN from the zero state over the batch-1 `prefix` (1, steps, features): its outputs
        (1, steps, hidden) and final state, as `self.rnn` returns them.

        On the CPU, `nn.RNN` (the Elman cell, which has no fused kernel there) records several calls
        per step, which at batch size 1 cost far more than the arithmetic; for it one `addmm` and one
        `tanh` per step compute the same sums, about 3 times faster. LSTM and GRU keep their kernels.
        """
        if self.cell != "rnn" or prefix.device.type != "cpu":
            return self.rnn(prefix)
        x, finals = prefix[0], []
        for layer in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = (getattr(self.rnn, f"{name}_l{layer}")
                                      for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            inputs = torch.addmm(b_ih + b_hh, x, w_ih.t())  # (steps, hidden), all steps at once
            h, outputs = x.new_zeros(1, self.hidden_size), []
            for step in inputs.split(1):
                h = torch.tanh(torch.addmm(step, h, w_hh.t()))
                outputs.append(h)
            x = torch.cat(outputs)
            finals.append(h)
        return x.unsqueeze(0), torch.stack(finals)

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
