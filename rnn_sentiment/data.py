"""DataModules: a shared base (tokenizer, cache, batching) and the sentiment one."""

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from rnn_sentiment import cache, sources
from rnn_sentiment.checkpoints import existing_checkpoint
from rnn_sentiment.encoder import language_model_tokenizer
from rnn_sentiment.errors import UserInputError
from rnn_sentiment.text import WordTokenizer, check_max_len, check_num_words, check_side, pad_ragged

BATCHING = ("fixed", "bucket")


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
        return "post" if self.batching == "bucket" else self.padding

    def matrix(self, flat: np.ndarray, lengths: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_ragged(flat, lengths, self.max_len, self.side, self.truncating)

    def batch(self, matrix: torch.Tensor, kept: torch.Tensor, index) -> dict[str, torch.Tensor]:
        kept = kept[index]
        if self.batching == "bucket":
            tokens = matrix[index, : max(int(kept.max()), 1)]
        else:
            tokens = matrix[index]
        batch = {"tokens": tokens.long()}
        if self.side == "post":
            batch["lengths"] = kept
        return batch


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
        self.epoch = epoch

    def resume(self, epoch: int, drawn: int) -> None:
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
        return {"epoch": self.sampler.epoch, "drawn": self.sampler.drawn}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.resume(state["epoch"], state["drawn"])


def default_cache_dir() -> str:
    return os.environ.get("RNN_LIGHTNING_CACHE", str(Path("~/.cache/rnn-lightning").expanduser()))


class TextDataModule(LightningDataModule):
    """Base of every DataModule here: fit the tokenizer once, cache the ids, serve batches.

    Subclasses implement `cache_key` (what the cached ids depend on), `build`
    (read, fit, encode: returns a dict of arrays and the tokenizer JSON) and
    `load` (turn that dict into datasets).
    """

    def __init__(self, num_words: int, batch_size: int, num_workers: int, seed: int, cache_dir: str | None):
        super().__init__()
        check_num_words(num_words)
        if batch_size < 1:
            raise UserInputError(f"data.batch_size={batch_size} must be at least 1")
        self.num_words = num_words
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.cache_dir = Path(cache_dir or default_cache_dir()).expanduser()
        self.tokenizer: WordTokenizer | None = None

    def cache_key(self) -> dict:
        raise NotImplementedError

    def build(self) -> dict:
        raise NotImplementedError

    def load(self, state: dict) -> None:
        raise NotImplementedError

    def cache_file(self) -> Path:
        key = json.dumps({"class": type(self).__name__, **self.cache_key()}, sort_keys=True, default=str)
        return self.cache_dir / f"{type(self).__name__}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"

    def setup(self, stage: str | None = None) -> None:
        if self.tokenizer is not None:
            return
        state = cache.load_or_build(self.cache_file(), self.build)
        self.tokenizer = WordTokenizer.from_json(state["tokenizer"])
        self.load(state)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def loader(self, dataset, sampler: BatchIndexSampler) -> DataLoader:
        if self.num_workers > 0:  # the Rust tokenizer's threads must not be forked into workers
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
        return ResumableLoader(
            dataset,
            sampler=sampler,
            batch_size=None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )


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

    def _split_loader(self, name: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[name]
        sampler = BatchIndexSampler(
            dataset.lengths,
            self.batch_size if shuffle else self.eval_batch_size,
            shuffle=shuffle,
            by_length=self.by_length,
            seed=self.seed,
            even_shards=shuffle,
        )
        return self.loader(dataset, sampler)

    def train_dataloader(self):
        return self._split_loader("train", shuffle=True)

    def val_dataloader(self):
        return self._split_loader("val", shuffle=False)

    def test_dataloader(self):
        return self._split_loader("test", shuffle=False)
