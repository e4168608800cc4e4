"""The language-model DataModule: contiguous train/val/test slices of a text, as pairs or BPTT windows."""

import urllib.request
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from rnn_sentiment import sources
from rnn_sentiment.data import BatchIndexSampler, TextDataModule, encode_with_progress
from rnn_sentiment.errors import UserInputError
from rnn_sentiment.files import open_atomically
from rnn_sentiment.text import WordTokenizer

MOBY_DICK_URL = "https://www.gutenberg.org/cache/epub/2701/pg2701.txt"
SPLITS = ("train", "val", "test")


class Windows(Dataset):
    """Non-overlapping windows: `seq_len` ids predict the `seq_len` ids one step later.

    Indexed by a list of window numbers, returns a whole batch. `seq_len=1`
    gives the tutorial's (previous word → next word) pairs.
    """

    def __init__(self, ids: torch.Tensor, seq_len: int):
        count = (len(ids) - 1) // seq_len
        self.inputs = ids[: count * seq_len].view(count, seq_len)
        self.targets = ids[1 : count * seq_len + 1].view(count, seq_len)

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        index = torch.as_tensor(index)
        return {"tokens": self.inputs[index].long(), "targets": self.targets[index].long()}


class Streams(Dataset):
    """Truncated BPTT over contiguous text: the ids cut into `streams` parallel rows,
    shared among `world` DDP ranks in contiguous blocks whose sizes differ by at most
    one; batch k holds columns [k·seq_len, (k+1)·seq_len) of this rank's rows, so the
    LSTM state carries from one batch to the next. Every rank has the same number of
    batches, and the ranks' rows together are exactly the single-process rows.
    """

    def __init__(self, ids: torch.Tensor, streams: int, seq_len: int, rank: int = 0, world: int = 1):
        if streams < world:
            raise UserInputError(
                f"{streams} streams cannot be shared among {world} DDP processes; raise data.eval_batch_size "
                f"to at least {world} or use fewer trainer.devices"
            )
        length = (len(ids) - 1) // streams
        if length < 1:
            raise UserInputError(
                f"{len(ids)} words cannot fill {streams} streams; lower data.batch_size or data.eval_batch_size"
            )
        rows = slice(rank * streams // world, (rank + 1) * streams // world)
        self.inputs = ids[: streams * length].view(streams, length)[rows]
        self.targets = ids[1 : streams * length + 1].view(streams, length)[rows]
        self.seq_len = seq_len

    def __len__(self):
        return -(-self.inputs.shape[1] // self.seq_len)

    def __getitem__(self, index: list[int]):
        (k,) = index
        columns = slice(k * self.seq_len, (k + 1) * self.seq_len)
        return {"tokens": self.inputs[:, columns].long(), "targets": self.targets[:, columns].long()}


class LanguageModelDataModule(TextDataModule):
    """Text from `path` (a file, a folder of .txt files, or a list of them), a Hub
    dataset of text, or by default Moby Dick from Project Gutenberg (downloaded once
    into the cache). Split by lines into contiguous train/val/test slices.
    """

    def __init__(
        self,
        path: str | list[str] | None = None,
        hub_dataset: str | None = None,
        text_column: str = "text",
        url: str = MOBY_DICK_URL,
        num_words: int = 10001,
        seq_len: int = 1,
        stateful: bool = False,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        split_fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
        num_workers: int = 0,
        seed: int = 42,
        cache_dir: str | None = None,
    ):
        super().__init__(num_words, batch_size, num_workers, seed, cache_dir)
        if seq_len < 1:
            raise UserInputError(f"data.seq_len={seq_len} must be at least 1")
        if len(split_fractions) != 3 or min(split_fractions) <= 0 or abs(sum(split_fractions) - 1) > 1e-6:
            raise UserInputError(
                f"data.split_fractions={list(split_fractions)} must be three positive fractions summing to 1"
            )
        paths = [path] if isinstance(path, str) else list(path or [])
        self.files = [sources.resolve(p) for p in paths]
        self.hub_dataset = hub_dataset
        self.text_column = text_column
        self.url = url
        self.seq_len = seq_len
        self.stateful = stateful
        self.eval_batch_size = eval_batch_size or batch_size
        self.split_fractions = tuple(split_fractions)
        self.ids: dict[str, torch.Tensor] = {}

    def _text_files(self) -> list[Path]:
        files = []
        for root in self.files:
            files += sorted(root.rglob("*.txt")) if root.is_dir() else [root]
        return files

    def cache_key(self) -> dict:
        source = [sources.fingerprint(f, "") for f in self.files] or [self.hub_dataset or self.url]
        return {"source": source, "num_words": self.num_words, "split": self.split_fractions}

    def _read_text(self) -> tuple[str, str]:
        """The whole text, and a name for it in error messages."""
        if self.files:
            files = self._text_files()
            where = ", ".join(map(str, files)) or str(self.files[0])
            return "\n".join(sources.read_utf8(file) for file in files), where
        if self.hub_dataset:
            split = sources.load_splits(None, self.hub_dataset)["train"][0]
            return "\n".join(sources.texts_of(split, self.text_column, self.hub_dataset)), self.hub_dataset
        download = self.cache_dir / "moby_dick.txt"
        if not download.exists():
            try:
                download.parent.mkdir(parents=True, exist_ok=True)
                with urllib.request.urlopen(self.url, timeout=30) as response:
                    data = response.read()
            except OSError as error:
                raise UserInputError(
                    f"cannot download {self.url} ({error}); when offline, set data.path to a local text file"
                ) from error
            with open_atomically(download, binary=True) as file:
                file.write(data)
        return download.read_text(encoding="utf-8-sig"), str(download)

    def build(self) -> dict:
        text, where = self._read_text()
        lines = [line for line in text.splitlines() if line.strip()]
        chars = np.cumsum([len(line) for line in lines]) if lines else np.zeros(0)
        cuts = np.cumsum(self.split_fractions)[:2] * (chars[-1] if len(chars) else 0)
        bounds = np.searchsorted(chars, cuts, side="right")
        parts = dict(zip(SPLITS, (lines[: bounds[0]], lines[bounds[0] : bounds[1]], lines[bounds[1] :])))
        tokenizer = WordTokenizer.fit(parts["train"], self.num_words)
        state = {"tokenizer": tokenizer.to_json()}
        for name, part in parts.items():
            flat, _ = encode_with_progress(tokenizer, part, desc=f"tokenizing {name}")
            if len(flat) < self.seq_len + 1:
                raise UserInputError(
                    f"{where}: the {name} slice holds {len(flat)} words, fewer than data.seq_len+1="
                    f"{self.seq_len + 1}; give a longer text (it needs words, not just punctuation)"
                )
            state[name] = flat
        return state

    def load(self, state: dict) -> None:
        self.ids = {name: torch.from_numpy(state[name]) for name in SPLITS}

    def preprocessing(self) -> dict:
        return {"task": "lm", "tokenizer": self.tokenizer.to_json()}

    def _split_loader(self, name: str, train: bool):
        batch_size = self.batch_size if train else self.eval_batch_size
        if self.stateful:
            rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer else (0, 1)
            # training: batch_size streams per rank; evaluation: the single-process streams, shared
            count = batch_size * world if train else batch_size
            streams = Streams(self.ids[name], count, self.seq_len, rank, world)
            in_order = BatchIndexSampler(torch.ones(len(streams)), 1, shuffle=False, by_length=False,
                                         split_across_ranks=False)  # each rank already holds its own streams
            return self.loader(streams, in_order)
        windows = Windows(self.ids[name], self.seq_len)
        sampler = BatchIndexSampler(torch.ones(len(windows)), batch_size, shuffle=train, by_length=False,
                                    seed=self.seed, even_shards=train)
        return self.loader(windows, sampler)

    def train_dataloader(self):
        return self._split_loader("train", train=True)

    def val_dataloader(self):
        return self._split_loader("val", train=False)

    def test_dataloader(self):
        return self._split_loader("test", train=False)
