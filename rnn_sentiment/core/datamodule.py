"""The base of every DataModule here: fit the tokenizer once, cache the ids, serve batches."""

import hashlib
import json
import os
from pathlib import Path

from lightning import LightningDataModule
from torch.utils.data import DataLoader

from rnn_sentiment.core import cache
from rnn_sentiment.core.batching import BatchIndexSampler, ResumableLoader
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.preprocessing import Preprocessing
from rnn_sentiment.core.text import WordTokenizer, check_num_words


def default_cache_dir() -> str:
    """`RNN_LIGHTNING_CACHE`, else `~/.cache/rnn-lightning`: where tokenized data is cached."""
    return os.environ.get("RNN_LIGHTNING_CACHE", str(Path("~/.cache/rnn-lightning").expanduser()))


class TextDataModule(LightningDataModule):
    """Base of every DataModule here: fit the tokenizer once, cache the ids, serve batches.

    Subclasses implement `cache_key` (what the cached ids depend on), `build`
    (read, fit, encode: returns a dict of arrays and the tokenizer JSON), `load`
    (turn that dict into datasets) and `split_loader` (one split's batches).
    """

    def __init__(self, num_words: int, batch_size: int, num_workers: int, seed: int, cache_dir: str | None):
        super().__init__()
        check_num_words(num_words)
        if batch_size < 1:
            raise UserInputError(f"data.batch_size={batch_size} must be at least 1")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise UserInputError(f"seed={'null' if seed is None else seed}: training needs a whole-number seed (it draws the validation split "
                                 "and the batch order); give one, e.g. seed=42")
        self.num_words = num_words
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.cache_dir = Path(cache_dir or default_cache_dir()).expanduser()
        self.tokenizer: WordTokenizer | None = None

    def cache_key(self) -> dict:
        """What the cached ids depend on (data files' fingerprints, tokenizer settings): plain JSON values."""
        raise NotImplementedError

    def build(self) -> dict:
        """Read the data, fit the tokenizer on train, encode every split: a dict of numpy arrays and plain
        values, with the tokenizer's JSON under `tokenizer` (what the cache stores)."""
        raise NotImplementedError

    def load(self, state: dict) -> None:
        """Turn the dict `build` returned (fresh or from the cache) into this DataModule's datasets."""
        raise NotImplementedError

    def cache_file(self) -> Path:
        """The cache file of this class and `cache_key`, under `cache_dir`."""
        key = json.dumps({"class": type(self).__name__, **self.cache_key()}, sort_keys=True, default=str)
        return self.cache_dir / f"{type(self).__name__}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt"

    def setup(self, stage: str | None = None) -> None:
        """Load the tokenizer and datasets from the cache, building it first if needed; once per process."""
        if self.tokenizer is not None:
            return
        state = cache.load_or_build(self.cache_file(), self.build)
        self.tokenizer = WordTokenizer.from_json(state["tokenizer"])
        self.load(state)

    @property
    def vocab_size(self) -> int:
        """The fitted tokenizer's `vocab_size` (after `setup`): the network's embedding rows."""
        return self.tokenizer.vocab_size

    def network_arguments(self) -> dict:
        """The sizes that the data fixes for the task's module (after `setup`): `vocab_size`, and
        for the classifier `num_classes`."""
        return {"vocab_size": self.vocab_size}

    def preprocessing(self) -> Preprocessing:
        """What the task's checkpoints need to turn raw text into the network's input (after `setup`)."""
        raise NotImplementedError

    def split_loader(self, name: str, train: bool) -> DataLoader:
        """The batches of split `name` (`train`, `val` or `test`); `train`: shuffled, and sharded evenly under DDP."""
        raise NotImplementedError

    def train_dataloader(self) -> DataLoader:
        return self.split_loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self.split_loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self.split_loader("test", train=False)

    def loader(self, dataset, sampler: BatchIndexSampler) -> DataLoader:
        """A resumable DataLoader whose batches `sampler` picks as lists of rows of `dataset`
        (the dataset builds a whole batch per index list, so `batch_size=None`)."""
        if self.num_workers > 0:  # the Rust tokenizer's threads must not be forked into workers
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
        return ResumableLoader(
            dataset,
            sampler=sampler,
            batch_size=None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
