"""Writing predictions batch by batch, as CSV or JSON Lines, one output row per input row, in input order."""

import csv
import json
from typing import NamedTuple, TextIO

import torch
from lightning.pytorch.callbacks import BasePredictionWriter

OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl"}


class Prediction(NamedTuple):
    """One output row. `note`: `empty` (no words: the network read only padding), `missing` (no cell,
    or null), `not a string` (a non-text cell, read as its text), or empty."""

    key: object
    text: str
    label: str
    p_positive: float
    note: str


class PredictionWriter(BasePredictionWriter):
    """Appends each batch's rows to `stream` (None: write nothing) in input order, and keeps the
    first `keep` rows and the counts for the terminal summary.

    Columns: `key_name` (`row`, or the id column's name), `text` if `with_text`, `label` (the
    checkpoint's class name), `p_positive` (probability of the second class), `note`.
    Batches may come out of input order (sorted by length within a chunk): a row waits until
    every earlier one is written, so at most one chunk waits.
    """

    def __init__(self, stream: TextIO | None, output_format: str, label_names: list[str], key_name: str = "row",
                 with_text: bool = False, keep: int = 0):
        super().__init__("batch")
        self.stream = stream
        self.output_format = output_format
        self.label_names = label_names
        self.key_name = key_name
        self.with_text = with_text
        self.keep = keep
        self.kept: list[Prediction] = []
        self.count = 0
        self.notes: dict[str, int] = {}
        self._waiting: dict[int, Prediction] = {}
        self._csv = csv.writer(stream, lineterminator="\n") if stream is not None and output_format == "csv" else None
        if self._csv is not None:
            self._csv.writerow(self._columns())

    def _columns(self) -> list[str]:
        return [self.key_name] + (["text"] if self.with_text else []) + ["label", "p_positive", "note"]

    def write_on_batch_end(self, trainer, pl_module, prediction: torch.Tensor, batch_indices, batch: dict,
                           batch_idx: int, dataloader_idx: int = 0) -> None:
        meta = batch["rows"]
        for row, words, p in zip(meta.rows, meta.words, prediction.tolist()):
            note = row.note or ("" if words else "empty")
            self._waiting[row.position] = Prediction(row.key, row.text, self.label_names[int(p >= 0.5)], p, note)
        while self.count in self._waiting:
            self._emit(self._waiting.pop(self.count))

    def _emit(self, result: Prediction) -> None:
        self.count += 1
        if result.note:
            self.notes[result.note] = self.notes.get(result.note, 0) + 1
        if len(self.kept) < self.keep:
            self.kept.append(result)
        if self.stream is None:
            return
        values = [result.key] + ([result.text] if self.with_text else []) + [result.label,
                                                                              round(result.p_positive, 6), result.note]
        if self._csv is not None:
            self._csv.writerow(values)
        else:
            self.stream.write(json.dumps(dict(zip(self._columns(), values)), ensure_ascii=False) + "\n")

