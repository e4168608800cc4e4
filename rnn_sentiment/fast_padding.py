"""Pre-padded batches with the padding that every row shares run once, at batch size 1.

From the zero state, every row of a pre-padded batch reads the same padding vector for its first
columns, so its state there is one vector that depends only on the weights. `shared_padding_outputs`
computes it by a batch-1 pass inside the autograd graph (gradients reach the weights and the
padding embedding) and starts the batch from it: the logits and gradients are those of the plain
path (`tests/test_fast_padding.py`), for a fraction of the work on short reviews.
"""

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from rnn_sentiment.network import RecurrentClassifier


def reads_padding_once(net: "RecurrentClassifier") -> bool:
    """Whether `shared_padding_outputs` is exact for `net` now: one direction, no dropout on the
    embeddings or between layers (which would give each row its own padding states) and no `bptt`
    windows (which the padding pass would shift, and so where gradients stop)."""
    dropout_between_layers = net.training and net.num_layers > 1 and net.rnn.dropout > 0
    dropout_of_inputs = net.training and net.input_dropout > 0
    return (net.fast_padding and net.directions == 1 and not dropout_between_layers and not dropout_of_inputs
            and not net.bptt)


def shared_padding_outputs(net: "RecurrentClassifier", tokens: torch.Tensor) -> torch.Tensor | None:
    """The RNN outputs of pre-padded `tokens` (batch, steps) as (batch, steps', hidden), with the
    padding columns that every row shares run once for the whole batch: with `last` pooling only
    the steps after them (steps' < steps), otherwise the shared steps' outputs come first, as usual.

    For the Conv-LSTM the skipped columns are a whole number of pooling windows, the batch's
    convolution starts a few windows earlier (so it sees the real neighbours of its first kept
    column) and drops them, and pooling groups the same absolute columns. Returns None when there
    is nothing to skip.
    """
    batch, steps = tokens.shape
    real_columns = tokens.ne(0).any(0).nonzero()
    shared = int(real_columns[0]) if len(real_columns) else steps  # leading all-padding columns
    if net.conv is None:
        skip = min(shared, steps - 1)  # read at least one column
        if skip < 1:
            return None
        prefix = net.embed(tokens.new_zeros(1, skip))
        rest = net.embed(tokens[:, skip:])
    else:
        window, kernel = net.pool_size, net.conv[0].kernel_size[0]
        left = (kernel - 1) // 2  # padding="same" puts the odd one on the right
        right = kernel - 1 - left
        early = window * -(-left // window)  # whole windows covering the left border
        # the prefix's last convolution must still see padding on its right
        skip = min(window * ((shared - right) // window), window * (steps // window - 1))
        if skip < max(early, window):
            return None
        prefix = net.conv_block(net.embed(tokens.new_zeros(1, skip + right)))[:, : skip // window]
        rest = net.conv_block(net.embed(tokens[:, skip - early :]))[:, early // window :]
    prefix_outputs, state = net.rnn(prefix)  # from the zero state
    widen = lambda part: part.expand(-1, batch, -1).contiguous()  # noqa: E731
    outputs = net.run_rnn(rest, tuple(map(widen, state)) if isinstance(state, tuple) else widen(state))
    if net.pooling == "last":
        return outputs
    return torch.cat([prefix_outputs.expand(batch, -1, -1), outputs], dim=1)
