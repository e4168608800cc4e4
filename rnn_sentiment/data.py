"""The sentiment DataModule: labelled reviews split into train/val/test, tokenized, cached, padded."""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from rnn_sentiment.core import sources
from rnn_sentiment.core.batching import BatchIndexSampler, Layout
from rnn_sentiment.core.checkpoints import existing_checkpoint
from rnn_sentiment.core.datamodule import TextDataModule
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.text import WordTokenizer
from rnn_sentiment.encoder import language_model_tokenizer


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


class SentimentDataModule(TextDataModule):
    """IMDB-style labelled reviews from the Hub or `path`; see `sources.load_splits`."""

    def __init__(
        self,
        path: str | None = None,
        hub_dataset: str = "stanfordnlp/imdb",
        text_column: str = "text",
        label_column: str = "label",
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
        num_workers: int = 0,
        seed: int = 42,
        cache_dir: str | None = None,
        by_length: bool | None = None,
        tokenizer_from: str | None = None,
    ):
        super().__init__(num_words, batch_size, num_workers, seed, cache_dir)
        self.tokenizer_from = tokenizer_from and existing_checkpoint(tokenizer_from, "data.tokenizer_from")
        self.layout = Layout(max_len, padding, truncating, batching)
        self.by_length = batching == "bucket" if by_length is None else by_length
        for option, value in (("data.val_fraction", val_fraction), ("data.test_fraction", test_fraction)):
            if not 0 < value < 1:
                raise UserInputError(f"{option}={value} must lie strictly between 0 and 1")
        self.root = sources.resolve(path)
        self.hub_dataset = hub_dataset
        self.text_column = text_column
        self.label_column = label_column
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
            "columns": [self.text_column, self.label_column],
            "num_words": self.num_words,
            "split": [self.val_fraction, self.val_on_test, self.test_fraction, self.seed],
            "tokenizer_from": self.tokenizer_from and sources.fingerprint(self.tokenizer_from, ""),
        }

    def _carve(self, texts: list[str], labels: np.ndarray, fraction: float):
        """A seeded random `fraction` of the rows, and the rest (IMDB files are grouped by class)."""
        order = np.random.default_rng(self.seed).permutation(len(texts))
        cut = round(len(texts) * fraction)
        pick = lambda rows: ([texts[i] for i in rows], labels[rows])  # noqa: E731
        return pick(order[cut:]), pick(order[:cut])

    def read_splits(self) -> tuple[dict[str, tuple[list[str], np.ndarray]], list[str]]:
        """The texts and label ids of `train`, `val` and `test`, split as configured, and the label names."""
        found = sources.load_splits(self.root, self.hub_dataset)
        train_split, where = found["train"]
        if len(train_split) == 0:
            raise UserInputError(f"{where}: the training split is empty; give data.path a file with reviews")
        label_names = sources.label_names_of(train_split, self.label_column, where)
        rows = {
            name: (
                sources.texts_of(split, self.text_column, at),
                sources.label_ids_of(split, self.label_column, label_names, at),
            )
            for name, (split, at) in found.items()
        }
        train = rows["train"]
        if "test" not in rows:
            train, rows["test"] = self._carve(*train, self.test_fraction)
        if self.val_on_test:
            val = rows["test"]
        elif "validation" in rows:
            val = rows["validation"]
        else:
            train, val = self._carve(*train, self.val_fraction)
        splits = {"train": train, "val": val, "test": rows["test"]}
        for name, (texts, _) in splits.items():
            if not texts:
                raise UserInputError(f"{where}: the {name} split is empty; add reviews or change data.val_fraction")
        return splits, label_names

    def build(self) -> dict:
        """Splits read and carved, the tokenizer fitted on train, every split encoded ragged."""
        splits, label_names = self.read_splits()
        if self.tokenizer_from:
            tokenizer = language_model_tokenizer(str(self.tokenizer_from))
        else:
            tokenizer = WordTokenizer.fit(splits["train"][0], self.num_words)
        state = {"tokenizer": tokenizer.to_json(), "label_names": label_names}
        for name, (texts, labels) in splits.items():
            flat, lengths = encode_with_progress(tokenizer, texts, desc=f"tokenizing {name}")
            state[name] = {"flat": flat, "lengths": lengths, "labels": labels}
        return state

    def load(self, state: dict) -> None:
        """The `train`, `val` and `test` datasets, padded as `layout` says, and the label names."""
        self.label_names = state["label_names"]
        self.datasets = {
            name: PaddedTexts(part["flat"], part["lengths"], part["labels"], self.layout)
            for name, part in state.items()
            if name in ("train", "val", "test")
        }

    def preprocessing(self) -> dict:
        """What a checkpoint needs to turn raw text into the network's input."""
        return {
            "task": "sentiment",
            "tokenizer": self.tokenizer.to_json(),
            "max_len": self.layout.max_len,
            "padding": self.layout.padding,
            "truncating": self.layout.truncating,
            "batching": self.layout.batching,
            "label_names": self.label_names,
        }

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
