"""Writing predictions batch by batch, as CSV or JSON Lines, one output row per input row, in input order."""

import csv
import json
from typing import NamedTuple, TextIO

import torch
from lightning.pytorch.callbacks import BasePredictionWriter

OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl"}


class Prediction(NamedTuple):
    """One output row. `probabilities`: the second class's alone for two classes, every class's for
    more; None each, with an empty `label`, for a row without words (nothing to classify). `note`:
    `empty` (no words), `missing` (no cell, or null), `not a string` (a non-text cell, read as its
    text), or empty."""

    key: object
    text: str
    label: str
    probabilities: tuple[float, ...]
    note: str

    @property
    def confidence(self) -> float | None:
        """The probability shown beside the label: the second class's for two classes (`p_positive`),
        the predicted class's for more; None for a row without words."""
        if self.probabilities[0] is None:
            return None
        return self.probabilities[0] if len(self.probabilities) == 1 else max(self.probabilities)


def probability_columns(label_names: list[str]) -> list[str]:
    """`p_positive` (the second class's probability) for two classes; `p_<class>` per class for more."""
    return ["p_positive"] if len(label_names) == 2 else [f"p_{name}" for name in label_names]


def predicted_label(probabilities: list[float], label_names: list[str]) -> str:
    """The class name of one row's probabilities (`Prediction.probabilities`)."""
    if len(probabilities) == 1:
        return label_names[int(probabilities[0] >= 0.5)]
    return label_names[max(range(len(probabilities)), key=probabilities.__getitem__)]


class PredictionWriter(BasePredictionWriter):
    """Appends each batch's rows to `stream` (None: write nothing) in input order, and keeps the
    first `keep` rows and the counts for the terminal summary.

    Columns: `key_name` (`row`, or the id column's name), `text` if `with_text`, `label` (the
    checkpoint's class name), the `probability_columns`, `note`.
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
        return ([self.key_name] + (["text"] if self.with_text else []) + ["label"]
                + probability_columns(self.label_names) + ["note"])

    def write_on_batch_end(self, trainer, pl_module, prediction: torch.Tensor, batch_indices, batch: dict,
                           batch_idx: int, dataloader_idx: int = 0) -> None:
        meta = batch["rows"]
        blank = (None,) * len(probability_columns(self.label_names))
        for row, words, p in zip(meta.rows, meta.words, prediction.tolist()):
            p = [p] if isinstance(p, float) else p
            if words:
                result = Prediction(row.key, row.text, predicted_label(p, self.label_names), tuple(p), row.note)
            else:  # only padding was read: no class
                result = Prediction(row.key, row.text, "", blank, row.note or "empty")
            self._waiting[row.position] = result
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
        values = ([result.key] + ([result.text] if self.with_text else []) + [result.label]
                  + [None if p is None else round(p, 6) for p in result.probabilities] + [result.note])
        if self._csv is not None:
            self._csv.writerow(values)
        else:
            self.stream.write(json.dumps(dict(zip(self._columns(), values)), ensure_ascii=False) + "\n")

