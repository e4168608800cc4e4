"""The tutorial's three classifiers as one network: Embedding → [Conv1d → MaxPool] → RNN → Linear."""

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnn_sentiment.errors import UserInputError

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


class RecurrentClassifier(nn.Module):
    """`cell=rnn` is the tutorial's Elman network, `lstm` its LSTM, `conv_channels>0` its Conv-LSTM.

    `forward(tokens, lengths)`: without lengths the last position is read (the
    tutorial's pre-padded setting); with lengths, each text's last real token
    (and packed sequences when bidirectional, so padding never enters).
    """

    def __init__(
        self,
        vocab_size: int,
        cell: str = "lstm",
        embed_dim: int = 32,
        hidden_size: int = 100,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        conv_channels: int = 0,
        conv_kernel: int = 3,
        pool_size: int = 2,
        init: str = "keras",
    ):
        super().__init__()
        if cell not in CELLS:
            raise UserInputError(f"model.cell={cell!r} is unknown; use one of {', '.join(CELLS)}")
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
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
        self.rnn = CELLS[cell](
            rnn_input,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), 1)
        if init == "keras":
            self.keras_init()
        elif init != "torch":
            raise UserInputError(f"model.init={init!r} is unknown; use keras or torch")

    @torch.no_grad()
    def keras_init(self) -> None:
        """Keras' defaults: small uniform embeddings, Glorot kernels, orthogonal recurrent
        weights, zero biases and, for the LSTM, a forget-gate bias of 1. PyTorch's own
        (unit-normal embeddings, uniform ±1/√h everywhere) trains the Elman RNN worse."""
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        self.embedding.weight[0].zero_()
        for name, weight in self.rnn.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(weight)
            elif name.startswith("weight_hh"):
                for gate in weight.chunk(GATES[self.cell]):
                    nn.init.orthogonal_(gate)
            else:
                nn.init.zeros_(weight)
                if self.cell == "lstm" and name.startswith("bias_ih"):
                    weight[self.rnn.hidden_size : 2 * self.rnn.hidden_size] = 1.0
        layers = [self.head] + ([self.conv[0]] if self.conv is not None else [])
        for layer in layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def extra_bias_parameters(self) -> int:
        """PyTorch's second bias vector per gate, which Keras' count does not have."""
        directions = 2 if self.rnn.bidirectional else 1
        return GATES[self.cell] * self.rnn.hidden_size * self.rnn.num_layers * directions

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embedding(tokens)
        if self.conv is not None:
            x = self.conv(x.transpose(1, 2)).transpose(1, 2)
            if lengths is not None:
                lengths = lengths // self.pool_size
        if lengths is not None:
            lengths = lengths.clamp(min=1, max=x.shape[1])
        if self.rnn.bidirectional:
            if lengths is not None:
                x = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            _, state = self.rnn(x)
            h_n = state[0] if isinstance(state, tuple) else state
            last = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            # Unidirectional: outputs before a text's end never see its padding, so
            # reading the output at the last real token is exact and keeps the fast
            # non-packed kernels.
            output, _ = self.rnn(x)
            if lengths is None:
                last = output[:, -1]
            else:
                last = output[torch.arange(len(output), device=output.device), lengths.to(output.device) - 1]
        return self.head(self.dropout(last)).squeeze(-1)
