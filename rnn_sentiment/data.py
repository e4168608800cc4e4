"""The classifiers' DataModule: labelled texts of any number of classes split into train/val/test
(or into cross-validation folds), tokenized, cached, padded."""

import re
import sys
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from rnn_sentiment.core import sources
from rnn_sentiment.core.batching import BatchIndexSampler, Layout
from rnn_sentiment.core.checkpoints import checkpoint_source, tokenizer_of
from rnn_sentiment.core.datamodule import TextDataModule
from rnn_sentiment.core.errors import UserInputError, check_choice
from rnn_sentiment.core.preprocessing import Preprocessing
from rnn_sentiment.core.text import WordTokenizer


def encode_with_progress(tokenizer: WordTokenizer, texts: list[str], desc: str, chunk: int = 2000):
    """Ragged ids of `texts`, encoded in Rust batches under a progress bar."""
    flats, lengths = [], []
    for start in tqdm(range(0, len(texts), chunk), desc=desc, unit="chunk", leave=False):
        flat, length = tokenizer.encode_ragged(texts[start : start + chunk])
        flats.append(flat)
        lengths.append(length)
    if not flats:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    return np.concatenate(flats), np.concatenate(lengths)


class PaddedTexts(Dataset):
    """Indexed by a list of row numbers, returns a whole batch: no per-item Python."""

    def __init__(self, flat, lengths, labels, layout: Layout):
        self.matrix, self.lengths = layout.matrix(flat, lengths)
        self.labels = torch.as_tensor(labels)
        self.layout = layout

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        index = torch.as_tensor(index)
        batch = self.layout.batch(self.matrix, self.lengths, index)
        batch["labels"] = self.labels[index]
        return batch


EMPTY_TEXTS = ("skip", "error")
Rows = tuple[list[str], np.ndarray]  # texts and their class ids (float32)


def _pick(rows: Rows, index: np.ndarray) -> Rows:
    """The rows at `index`, in that order."""
    texts, labels = rows
    return [texts[i] for i in index], labels[index]


class SentimentDataModule(TextDataModule):
    """Labelled texts from the Hub or `path` (see `sources.load_splits`), two or more classes named by
    the data. A source without a test split gives one: a seeded `test_fraction` of train, or with
    `folds` > 1 fold number `fold` of a seeded partition into `folds` parts (cross-validation).
    `unlabelled_path` adds texts without labels (less any equal to a test text), which virtual
    adversarial training draws from (`unlabelled_batch`)."""

    def __init__(
        self,
        path: str | None = None,
        hub_dataset: str = "stanfordnlp/imdb",
        hub_config: str | None = None,
        text_column: str | list[str] = "text",
        label_column: str = "label",
        empty_texts: str = "skip",
        class_names: list[str] | None = None,
        num_words: int = 5000,
        max_len: int = 500,
        padding: str = "pre",
        truncating: str = "pre",
        batching: str = "bucket",
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        val_on_test: bool = False,
        test_fraction: float = 0.2,
        folds: int = 0,
        fold: int = 0,
        num_workers: int = 0,
        seed: int = 42,
        cache_dir: str | None = None,
        by_length: bool | None = None,
        tokenizer_from: str | None = None,
        unlabelled_path: str | None = None,
    ):
        super().__init__(num_words, batch_size, num_workers, seed, cache_dir)
        self.tokenizer_from = tokenizer_from and checkpoint_source(tokenizer_from, "data.tokenizer_from")
        self.layout = Layout(max_len, padding, truncating, batching)
        self.by_length = batching == "bucket" if by_length is None else by_length
        for option, value in (("data.val_fraction", val_fraction), ("data.test_fraction", test_fraction)):
            if not 0 < value < 1:
                raise UserInputError(f"{option}={value} must lie strictly between 0 and 1")
        check_choice("data.empty_texts", empty_texts, EMPTY_TEXTS)
        if not isinstance(folds, int) or isinstance(folds, bool) or folds < 0 or folds == 1:
            raise UserInputError(f"data.folds={folds!r} must be 0 (no cross-validation) or a number of folds, 2 or more")
        if folds and not (isinstance(fold, int) and 0 <= fold < folds):
            raise UserInputError(f"data.fold={fold!r} is out of range: with data.folds={folds} use 0 to {folds - 1}")
        if fold and not folds:
            raise UserInputError(f"data.fold={fold!r} needs data.folds (the number of folds, e.g. data.folds=10)")
        self.root = sources.resolve(path)
        self.unlabelled_root = sources.resolve(unlabelled_path, "data.unlabelled_path")
        self.unlabelled: PaddedTexts | None = None
        self.unlabelled_by_length: torch.Tensor | None = None  # row numbers of `unlabelled`, shortest first
        self.hub_dataset = hub_dataset
        self.hub_config = hub_config
        self.text_column = sources.text_columns(text_column)
        self.label_column = label_column
        self.empty_texts = empty_texts
        self.class_names = None if class_names is None else [str(name) for name in class_names]
        self.folds, self.fold = folds, fold
        self.eval_batch_size = eval_batch_size or batch_size
        self.val_fraction = val_fraction
        self.val_on_test = val_on_test
        self.test_fraction = test_fraction
        self.label_names: list[str] = []
        self.datasets: dict[str, PaddedTexts] = {}

    def cache_key(self) -> dict:
        """The data's fingerprint, columns, vocabulary size and how splits are carved."""
        return {
            "data": sources.fingerprint(self.root, self.hub_dataset),
            "columns": [self.text_column[0] if len(self.text_column) == 1 else self.text_column, self.label_column],
            "num_words": self.num_words,
            "split": [self.val_fraction, self.val_on_test, self.test_fraction, self.seed]
            + ([self.folds, self.fold] if self.folds else []),
            **({"hub_config": self.hub_config} if self.root is None and self.hub_config else {}),
            **({"empty_texts": self.empty_texts} if self.empty_texts != "skip" else {}),
            "tokenizer_from": self.tokenizer_from and sources.fingerprint(
                Path(self.tokenizer_from) if Path(self.tokenizer_from).exists() else None, self.tokenizer_from),
            **({"unlabelled": sources.fingerprint(self.unlabelled_root, "")} if self.unlabelled_root else {}),
        }

    def _carve(self, rows: Rows, fraction: float) -> tuple[Rows, Rows]:
        """The rest of `rows` and a seeded random `fraction` of them (IMDB files are grouped by class)."""
        order = np.random.default_rng(self.seed).permutation(len(rows[0]))
        cut = round(len(rows[0]) * fraction)
        return _pick(rows, order[cut:]), _pick(rows, order[:cut])

    def _fold(self, rows: Rows) -> tuple[Rows, Rows]:
        """The other folds and fold `self.fold` of a seeded partition of `rows` into `self.folds` parts."""
        parts = np.array_split(np.random.default_rng(self.seed).permutation(len(rows[0])), self.folds)
        rest = np.sort(np.concatenate([part for k, part in enumerate(parts) if k != self.fold]))
        return _pick(rows, rest), _pick(rows, np.sort(parts[self.fold]))

    def _rows_with_text(self, split, where: str, notes: list[str]):
        """`split` without its rows that have no text (`empty_texts=skip`, with a note; `error`
        refuses them), and the texts of the rows kept."""
        sources.check_columns(split, self.text_column, self.label_column, where)
        texts = sources.texts_of(split, self.text_column, where)
        empty = [row for row, text in enumerate(texts) if text is None]
        if not empty:
            return split, texts
        columns = " + ".join(map(repr, self.text_column))
        if len(empty) == len(texts):
            raise UserInputError(f"{where}: row 0 has an empty or missing text in {columns}; "
                                 "set data.text_column to the column of texts")
        if self.empty_texts == "error":
            raise UserInputError(f"{where}: row {empty[0]} has an empty or missing text in {columns}; remove that row "
                                 "or fill it in (data.empty_texts=skip passes over such rows)")
        first = ", ".join(map(str, empty[:5])) + (", …" if len(empty) > 5 else "")
        notes.append(f"note: {where}: skipped {len(empty):,} of {len(texts):,} rows with no text in {columns} "
                     f"(rows {first}); data.empty_texts=error refuses them instead")
        kept = [row for row, text in enumerate(texts) if text is not None]
        return split.select(kept), [texts[row] for row in kept]

    def read_splits(self) -> tuple[dict[str, Rows], list[str], list[str]]:
        """The texts and class ids of `train`, `val` and `test`, split as configured, the class names
        (from the training rows that have text), and the notes on what was skipped."""
        found = sources.load_splits(self.root, self.hub_dataset, self.hub_config)
        where = found["train"][1]
        if len(found["train"][0]) == 0:
            raise UserInputError(f"{where}: the training split is empty; give data.path a file with rows")
        notes: list[str] = []
        kept = {name: (*self._rows_with_text(split, at, notes), at) for name, (split, at) in found.items()}
        label_names = sources.label_names_of(kept["train"][0], self.label_column, where)
        rows = {name: (texts, sources.label_ids_of(split, self.label_column, label_names, at))
                for name, (split, texts, at) in kept.items()}
        train = rows["train"]
        if self.folds:
            if "test" in rows:
                raise UserInputError(
                    f"data.folds={self.folds}: {found['test'][1]} is a test split already; cross-validation is for "
                    "sources with no test split: drop data.folds, or point data.path at the training file alone"
                )
            train, rows["test"] = self._fold(train)
        elif "test" not in rows:
            train, rows["test"] = self._carve(train, self.test_fraction)
        if self.val_on_test:
            val = rows["test"]
        elif "validation" in rows:
            val = rows["validation"]
        else:
            train, val = self._carve(train, self.val_fraction)
        splits = {"train": train, "val": val, "test": rows["test"]}
        for name, (texts, _) in splits.items():
            if not texts:
                fix = f"use fewer data.folds than its {len(rows['train'][0]):,} rows" if self.folds and name == "test" \
                    else "add rows or change data.val_fraction / data.test_fraction"
                raise UserInputError(f"{where}: the {name} split is empty; {fix}")
        self._check_classes(splits, label_names, where)
        return splits, label_names, notes

    @staticmethod
    def _check_classes(splits: dict[str, Rows], label_names: list[str], where: str) -> None:
        """Training needs two classes, and every class that validation or test holds."""
        trained = set(np.unique(splits["train"][1]).astype(int).tolist())
        if len(trained) < 2:
            raise UserInputError(
                f"{where}: the training split holds one class only ({label_names[trained.pop()]!r}); "
                "a classifier needs rows of two or more classes"
            )
        for name in ("val", "test"):
            unseen = sorted(set(np.unique(splits[name][1]).astype(int).tolist()) - trained)
            if unseen:
                raise UserInputError(
                    f"{where}: the {name} split holds class {', '.join(repr(label_names[i]) for i in unseen)}, which "
                    "the training split does not; add training rows of it, or drop those rows"
                )

    def build(self) -> dict:
        """Splits read and carved, the tokenizer fitted on train, every split encoded ragged."""
        splits, label_names, notes = self.read_splits()
        if self.tokenizer_from:
            tokenizer = tokenizer_of(str(self.tokenizer_from), "data.tokenizer_from")
        else:
            tokenizer = WordTokenizer.fit(splits["train"][0], self.num_words)
        state = {"tokenizer": tokenizer.to_json(), "label_names": label_names, "notes": notes}
        if self.unlabelled_root is not None:
            splits["unlabelled"] = self._unlabelled_texts(set(splits["test"][0]))
        for name, (texts, labels) in splits.items():
            flat, lengths = encode_with_progress(tokenizer, texts, desc=f"tokenizing {name}")
            state[name] = {"flat": flat, "lengths": lengths, "labels": labels}
        return state

    def _unlabelled_texts(self, test_texts: set[str]) -> Rows:
        """The texts of `unlabelled_path` (its `text_column`), without empty ones and those equal to a
        test text, which training must not read; labels are zeros, never read."""
        table, where = sources.load_splits(self.unlabelled_root, "")["train"]
        texts = [text for text in sources.texts_of(table, self.text_column, where) if text and text not in test_texts]
        if not texts:
            raise UserInputError(f"data.unlabelled_path={where}: holds no text (beside the test split's) in "
                                 f"{' + '.join(map(repr, self.text_column))}; give a file of texts or set data.text_column")
        return texts, np.zeros(len(texts), dtype=np.float32)

    def load(self, state: dict) -> None:
        """The `train`, `val` and `test` datasets, padded as `layout` says, and the label names."""
        self.label_names = self._named(state["label_names"])
        for note in state.get("notes", []):
            rank_zero_only(print)(note, file=sys.stderr)
        self.datasets = {
            name: PaddedTexts(part["flat"], part["lengths"], part["labels"], self.layout)
            for name, part in state.items()
            if name in ("train", "val", "test")
        }
        part = state.get("unlabelled")
        self.unlabelled = part and PaddedTexts(part["flat"], part["lengths"], part["labels"], self.layout)
        self.unlabelled_by_length = part and torch.argsort(self.unlabelled.lengths, stable=True)

    def unlabelled_batch(self, step: int, rank: int) -> dict | None:
        """`batch_size` unlabelled texts of similar lengths (neighbours in length order from a random
        place, so a batch runs about its texts' own steps, not the longest text's) for training step
        `step` on DDP rank `rank`, laid out as the training batches (without labels); None without
        `unlabelled_path`. The place is drawn by a generator seeded with (seed, step, rank) alone, so a
        resumed run draws what the uninterrupted one did."""
        if self.unlabelled is None:
            return None
        size = min(self.batch_size, len(self.unlabelled))
        start = int(np.random.default_rng([self.seed, step, rank]).integers(0, len(self.unlabelled) - size + 1))
        batch = self.unlabelled[self.unlabelled_by_length[start : start + size].tolist()]
        del batch["labels"]
        return batch

    def _named(self, found: list[str]) -> list[str]:
        """`class_names` in place of numeric labels (IMDB's 0 and 1 are neg and pos); classes the data
        names itself (a ClassLabel's names, words) keep their names."""
        numeric = all(re.fullmatch(r"-?\d+(\.\d+)?", name) for name in found)
        if self.class_names is None or not numeric:
            return found
        if len(self.class_names) != len(found):
            raise UserInputError(
                f"data.class_names={self.class_names} names {len(self.class_names)} classes, but the data's labels are "
                f"{', '.join(found)}; give one name per label in that order, or data.class_names=null"
            )
        return list(self.class_names)

    @property
    def num_classes(self) -> int:
        """The number of classes (after `setup`): 2 makes a one-logit head, more a softmax head."""
        return len(self.label_names)

    def network_arguments(self) -> dict:
        return {"vocab_size": self.vocab_size, "num_classes": self.num_classes}

    def word_counts(self) -> torch.Tensor:
        """(vocab_size,) float: how often each id occurs in the training split as the network reads
        it (truncated to `max_len`); padding counts 0."""
        matrix = self.datasets["train"].matrix
        counts = torch.bincount(matrix.flatten().long(), minlength=self.vocab_size).float()
        counts[0] = 0
        return counts

    def preprocessing(self) -> Preprocessing:
        """What a checkpoint needs to turn raw text into the network's input."""
        return Preprocessing("sentiment", self.tokenizer, self.layout, tuple(self.label_names))

    def split_loader(self, name: str, train: bool) -> DataLoader:
        dataset = self.datasets[name]
        sampler = BatchIndexSampler(
            dataset.lengths,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            by_length=self.by_length,
            seed=self.seed,
            even_shards=train,
        )
        return self.loader(dataset, sampler)
