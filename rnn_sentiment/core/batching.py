"""How tokenized texts become batches: the padding layout of a batch, the sampler that picks each
batch's rows (shuffled, grouped by length, split across DDP ranks, resumable mid-epoch) and the
DataLoader that checkpoints the sampler's position."""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.text import check_max_len, check_side, pad_ragged

BATCHING = ("fixed", "bucket")


@dataclass(frozen=True)
class Layout:
    """How a batch is laid out. `fixed`: Keras `pad_sequences` to `max_len`.

    `bucket`: truncated to `max_len`, padded at the end to the batch's longest
    text, with lengths so the network reads each text's last real token.
    Pre-padded batches carry no lengths: the last position is the last token.
    """

    max_len: int
    padding: str = "pre"
    truncating: str = "pre"
    batching: str = "fixed"

    def __post_init__(self):
        check_max_len(self.max_len)
        check_side("data.padding", self.padding)
        check_side("data.truncating", self.truncating)
        if self.batching not in BATCHING:
            raise UserInputError(f"data.batching={self.batching!r} is unknown; use fixed or bucket")

    @property
    def side(self) -> str:
        """Where padding goes in the padded matrix: always `post` for `bucket` (lengths mark the end)."""
        return "post" if self.batching == "bucket" else self.padding

    def matrix(self, flat: np.ndarray, lengths: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Ragged ids (`flat`: all texts' ids, int32; `lengths`: (N,)) as an (N, max_len) int32 matrix padded
        on `side`, and the (N,) lengths kept after truncation to `max_len`."""
        return pad_ragged(flat, lengths, self.max_len, self.side, self.truncating)

    def batch(self, matrix: torch.Tensor, kept: torch.Tensor, index) -> dict[str, torch.Tensor]:
        """The rows `index` of `matrix` as a batch: `tokens` (B, T) int64, T = `max_len` (`fixed`) or the
        batch's longest kept length (`bucket`, at least 1), and, for post-padded rows, `lengths` (B,)."""
        kept = kept[index]
        if self.batching == "bucket":
            tokens = matrix[index, : max(int(kept.max()), 1)]
        else:
            tokens = matrix[index]
        batch = {"tokens": tokens.long()}
        if self.side == "post":
            batch["lengths"] = kept
        return batch


class BatchIndexSampler(Sampler):
    """Yields lists of row numbers, one list per batch, split across DDP ranks.

    With `by_length`, rows are sorted by length inside pools of 100 batches
    (the whole split when not shuffling), so each batch holds similar lengths.
    The order depends only on seed and epoch; `drawn` counts the batches handed
    out this epoch, so a run resumed mid-epoch skips exactly those.

    Across ranks, `even_shards=True` (training) deals whole batches round-robin
    and repeats up to world-1 of them, so every rank takes the same number of
    steps, as DDP's gradient all-reduce needs. `even_shards=False` (evaluation)
    deals rows round-robin instead and repeats none: every row goes to exactly
    one rank, once, and the ranks' row counts differ by at most one.
    """

    def __init__(self, lengths, batch_size: int, shuffle: bool, by_length: bool, seed: int = 0,
                 split_across_ranks: bool = True, even_shards: bool = True):
        self.lengths = torch.as_tensor(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.by_length = by_length
        self.seed = seed
        self.split_across_ranks = split_across_ranks
        self.even_shards = even_shards
        self.epoch = 0
        self.drawn = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for `epoch` (Lightning calls it at each epoch start)."""
        self.epoch = epoch

    def resume(self, epoch: int, drawn: int) -> None:
        """Continue `epoch` after the `drawn` batches a checkpoint recorded."""
        self.epoch, self._skip = epoch, drawn

    def _rank_and_world(self) -> tuple[int, int]:
        if self.split_across_ranks and dist.is_available() and dist.is_initialized():
            rank, world = dist.get_rank(), dist.get_world_size()
            if not self.even_shards and len(self.lengths) < world:
                raise UserInputError(
                    f"an evaluation split of {len(self.lengths)} rows cannot give each of the {world} DDP "
                    "processes a row; use fewer trainer.devices or a larger split"
                )
            return rank, world
        return 0, 1

    def _ordered_rows(self, generator: torch.Generator) -> torch.Tensor:
        n = len(self.lengths)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        if self.by_length:
            pool = self.batch_size * 100 if self.shuffle else max(n, 1)
            order = torch.cat(
                [chunk[torch.argsort(self.lengths[chunk], stable=True)] for chunk in order.split(pool)]
            )
        return order

    def _batches_of(self, rows: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        batches = list(rows.split(self.batch_size))
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator)]
        return batches

    def _shard(self) -> list[torch.Tensor]:
        """This rank's batches for this epoch."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        rows = self._ordered_rows(generator)
        rank, world = self._rank_and_world()
        if not self.even_shards:
            return self._batches_of(rows[rank::world], generator)
        batches = self._batches_of(rows, generator)
        batches += batches[: (-len(batches)) % world]
        return batches[rank::world]

    def __iter__(self):
        batches = self._shard()
        self.drawn, self._skip = self._skip, 0
        for batch in batches[self.drawn :]:
            self.drawn += 1
            yield batch.tolist()

    def __len__(self):
        rank, world = self._rank_and_world()
        if not self.even_shards:
            return math.ceil(len(range(rank, len(self.lengths), world)) / self.batch_size)
        return math.ceil(math.ceil(len(self.lengths) / self.batch_size) / world)


class ResumableLoader(DataLoader):
    """A DataLoader over a `BatchIndexSampler` that Lightning checkpoints mid-epoch."""

    def state_dict(self) -> dict:
        """The sampler's position, which Lightning saves in a checkpoint."""
        return {"epoch": self.sampler.epoch, "drawn": self.sampler.drawn}

    def load_state_dict(self, state: dict) -> None:
        """Restore the position `state_dict` saved: the next pass skips the batches already drawn."""
        self.sampler.resume(state["epoch"], state["drawn"])
