"""Texts to classify as a stream of padded batches, a chunk of rows at a time (for `Trainer.predict`)."""

from collections.abc import Iterable, Iterator
from itertools import islice

import torch
from torch.utils.data import DataLoader, IterableDataset

from rnn_sentiment.core.batching import Layout
from rnn_sentiment.core.text import WordTokenizer
from rnn_sentiment.prediction.inputs import InputRow


class RowsOfBatch:
    """The input rows a batch holds, and how many words each has. A plain object, so that
    collation and Lightning's device transfer pass it through untouched."""

    def __init__(self, rows: list[InputRow], words: list[int]):
        self.rows = rows
        self.words = words


class ChunkedTexts(IterableDataset):
    """Reads `chunk_size` rows, tokenizes them in one call, and yields them as batches of up to
    `batch_size`; then the next chunk. Memory holds one chunk, whatever the length of the input.

    Each batch is `{"tokens": (B, T) int64, "lengths": (B,) int64 (bucket batching only),
    "rows": RowsOfBatch}`, laid out as the checkpoint's training batches were. Rows are sorted by
    length within the chunk, so batches come out of input order (the writer restores it) and hold
    little padding: bucket batches are cut to their longest row, and the shared leading padding of
    pre-padded ones is read once (`fast_padding.py`); each row's scores are those of any other batch.
    """

    def __init__(self, rows: Iterable[InputRow], tokenizer: WordTokenizer, layout: Layout, batch_size: int,
                 chunk_size: int):
        self.rows = rows
        self.tokenizer = tokenizer
        self.layout = layout
        self.batch_size = batch_size
        self.chunk_size = chunk_size

    def __iter__(self) -> Iterator[dict]:
        rows = iter(self.rows)
        while chunk := list(islice(rows, self.chunk_size)):
            flat, lengths = self.tokenizer.encode_ragged([row.text for row in chunk])
            matrix, kept = self.layout.matrix(flat, lengths)
            order = torch.argsort(kept, stable=True)
            for index in order.split(self.batch_size):
                batch = self.layout.batch(matrix, kept, index)
                batch["rows"] = RowsOfBatch([chunk[i] for i in index.tolist()], lengths[index.numpy()].tolist())
                yield batch


def prediction_loader(dataset: ChunkedTexts) -> DataLoader:
    """The dataset makes whole batches itself; reading stays in this process (standard input can't be shared)."""
    return DataLoader(dataset, batch_size=None)
