"""Word-level LSTM language model: Embedding → LSTM → Linear over the vocabulary."""

import torch
from torch import nn

from rnn_sentiment.core.errors import UserInputError


class WordLSTM(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 100,
        hidden_size: int = 500,
        num_layers: int = 1,
        dropout: float = 0.0,
        tie_weights: bool = False,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            embed_dim, hidden_size, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.decoder = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            if embed_dim != hidden_size:
                raise UserInputError(
                    f"model.tie_weights needs model.embed_dim ({embed_dim}) == model.hidden_size ({hidden_size})"
                )
            self.decoder.weight = self.embedding.weight

    def forward(self, tokens: torch.Tensor, state=None):
        """Logits (batch, time, vocab) and the LSTM state after the last token."""
        output, state = self.lstm(self.drop(self.embedding(tokens)), state)
        return self.decoder(self.drop(output)), state
