"""The language-model DataModule: train/val/test text as one id array each, served as pairs or BPTT windows."""

import functools
import logging
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from rnn_sentiment.core import sources
from rnn_sentiment.core.batching import BatchIndexSampler
from rnn_sentiment.core.datamodule import TextDataModule
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.files import open_atomically
from rnn_sentiment.core.preprocessing import Preprocessing
from rnn_sentiment.core.text import WordTokenizer

log = logging.getLogger(__name__)
MOBY_DICK_URL = "https://www.gutenberg.org/cache/epub/2701/pg2701.txt"
SPLITS = ("train", "val", "test")
HUB_SPLITS = {"train": "train", "val": "validation", "test": "test"}
SPLIT_FILE_NAMES = {"train": ("train",), "val": ("validation", "valid"), "test": ("test",)}
CHUNK_CHARS = 1 << 18  # text is read, fitted and encoded about 260,000 characters at a time


def text_file_chunks(file: Path) -> Iterator[list[str]]:
    """The non-blank lines of a UTF-8 text file (split as `str.splitlines` does), a chunk at a time."""
    chunk, size = [], 0
    with open(file, "rb") as handle:
        for line in sources.utf8_lines(handle, str(file)):
            for piece in line.splitlines():
                if piece.strip():
                    chunk.append(piece)
                    size += len(piece)
            if size >= CHUNK_CHARS:
                yield chunk
                chunk, size = [], 0
    if chunk:
        yield chunk


@dataclass(frozen=True)
class Part:
    """Lines [start, stop) of the non-blank lines that `read()` yields, chunk by chunk; `where` names them in errors."""

    where: str
    read: Callable[[], Iterator[list[str]]]
    start: int = 0
    stop: int | None = None

    def chunks(self) -> Iterator[list[str]]:
        seen = 0
        for chunk in self.read():
            end = seen + len(chunk)
            if end > self.start:
                kept = chunk[max(self.start - seen, 0) : None if self.stop is None else self.stop - seen]
                if kept:
                    yield kept
            seen = end
            if self.stop is not None and seen >= self.stop:
                return


def file_part(file: Path, text_column: str) -> Part:
    """A table's non-blank `text_column` cells (.parquet, .csv, .jsonl, .json), or any other file's non-blank lines."""
    if file.suffix.lower() not in sources.FORMATS:
        return Part(str(file), functools.partial(text_file_chunks, file))
    table, where = sources.load_splits(file, "")["train"]  # a single file loads as one split
    return Part(where, functools.partial(sources.text_batches_of, table, text_column, where))


def excluded_file(path: str) -> Path:
    """A file given to `data.exclude_texts_of`, which must exist and be a file."""
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise UserInputError(
            f"data.exclude_texts_of={path}: not a file ({file}); give the files whose texts pretraining must not "
            "read: tables with a data.text_column column, or text files (e.g. ../shared/data/imdb/test.parquet)"
        )
    return file


def without_texts(part: Part, excluded: frozenset[str]) -> Part:
    """`part` without the lines (a table's cells) equal to one of `excluded`."""

    def read() -> Iterator[list[str]]:
        for chunk in part.read():
            yield [line for line in chunk if line not in excluded]

    return Part(part.where, read, part.start, part.stop)


def carve(part: Part, fractions: Sequence[float]) -> list[Part]:
    """Contiguous slices of `part`, cut at line ends, slice k holding about `fractions[k]` of its characters."""
    chars = np.cumsum(np.fromiter((len(line) for chunk in part.chunks() for line in chunk), dtype=np.int64))
    cuts = np.cumsum(fractions)[:-1] * (chars[-1] if len(chars) else 0)
    bounds = [0, *np.searchsorted(chars, cuts, side="right").tolist(), len(chars)]
    return [Part(part.where, part.read, part.start + lo, part.start + hi) for lo, hi in zip(bounds, bounds[1:])]


def split_files(folder: Path) -> dict[str, Path]:
    """The split files in `folder`: `train.*`, `validation.*` or `valid.*`, `test.*`, also with a
    prefix, as WikiText's raw release names them (`wiki.train.raw`, `wiki.valid.raw`, `wiki.test.raw`)."""
    files = sorted(f for f in folder.iterdir() if f.is_file())
    found = {}
    for split, names in SPLIT_FILE_NAMES.items():
        matches = [f for f in files if len(parts := f.name.lower().split(".")) >= 2 and parts[-2] in names]
        if len(matches) > 1:
            raise UserInputError(
                f"data.path={folder}: several files for the {split} split ({', '.join(m.name for m in matches)}); "
                "keep one"
            )
        if matches:
            found[split] = matches[0]
    if found and "train" not in found:
        raise UserInputError(
            f"data.path={folder}: {', '.join(f.name for f in found.values())} but no training file; "
            "add train.txt (or wiki.train.raw, train.parquet, ...)"
        )
    return found


def encode(tokenizer: WordTokenizer, part: Part, desc: str) -> np.ndarray:
    """All ids of `part`, in order, as one int32 array (numpy: what the cache checksums and stores)."""
    pieces = [tokenizer.encode_ragged(chunk)[0] for chunk in tqdm(part.chunks(), desc=desc, unit="chunk", leave=False)]
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)


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
    """Text from `path`, a Hub dataset, or by default Moby Dick from Project Gutenberg (downloaded
    once into the cache), as train/val/test id arrays; blank lines and rows are skipped.

    `path` is a text file or a table with a `text_column` (.parquet, .csv, .jsonl), a folder of split
    files (`train.*`, `validation.*` or `valid.*`, `test.*`, or WikiText's `wiki.train.raw` ...), a
    folder of .txt files, or a list of files. Splits that a folder or Hub dataset (`hub_dataset`,
    `hub_config`) provides are used as they are; the missing ones are cut from the training text as
    contiguous slices of `split_fractions` of its characters.
    """

    def __init__(
        self,
        path: str | list[str] | None = None,
        hub_dataset: str | None = None,
        hub_config: str | None = None,
        text_column: str = "text",
        url: str = MOBY_DICK_URL,
        num_words: int = 10001,
        seq_len: int = 1,
        stateful: bool = False,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        split_fractions: tuple[float, float, float] = (0.9, 0.05, 0.05),
        exclude_texts_of: str | list[str] | None = None,
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
        self.hub_config = hub_config
        self.text_column = text_column
        self.url = url
        self.seq_len = seq_len
        self.stateful = stateful
        self.eval_batch_size = eval_batch_size or batch_size
        self.split_fractions = tuple(split_fractions)
        excluded = [exclude_texts_of] if isinstance(exclude_texts_of, str) else list(exclude_texts_of or [])
        self.excluded_files = [excluded_file(p) for p in excluded]
        self.ids: dict[str, torch.Tensor] = {}

    def _text_files(self) -> list[Path]:
        files = []
        for root in self.files:
            files += sorted(root.rglob("*.txt")) if root.is_dir() else [root]
        return files

    def cache_key(self) -> dict:
        source = [sources.fingerprint(f, "") for f in self.files] or [self.hub_dataset or self.url]
        return {
            "source": source,
            "hub_config": self.hub_config,
            "text_column": self.text_column,
            "num_words": self.num_words,
            "split": self.split_fractions,
            "excluded": [sources.fingerprint(f, "") for f in self.excluded_files],
        }

    def _moby_dick(self) -> Path:
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
        return download

    def _given_splits(self) -> dict[str, Part]:
        """The splits the source provides (without the texts of `exclude_texts_of`): at least `train`."""
        if len(self.files) == 1 and self.files[0].is_dir() and (found := split_files(self.files[0])):
            return {name: self._excluding(file_part(file, self.text_column)) for name, file in found.items()}
        if self.files:
            files = self._text_files()
            if not files:
                raise UserInputError(
                    f"data.path={self.files[0]}: no .txt files and no train.* file; give a text file, "
                    "a folder of .txt files, or a folder with train.txt, valid.txt and test.txt"
                )
            parts = [self._excluding(file_part(file, self.text_column)) for file in files]
            where = ", ".join(part.where for part in parts)
            return {"train": Part(where, lambda: chain.from_iterable(part.chunks() for part in parts))}
        if self.hub_dataset:
            found = sources.load_splits(None, self.hub_dataset, self.hub_config)
            if "train" not in found:
                raise UserInputError(
                    f"the Hub dataset {self.hub_dataset!r} has no train split (it has {', '.join(found) or 'none'}); "
                    "give a dataset with a train split, or data.path"
                )
            parts = {}
            for name, hub_name in HUB_SPLITS.items():
                if hub_name in found:
                    table, where = found[hub_name]
                    read = functools.partial(sources.text_batches_of, table, self.text_column, where)
                    parts[name] = self._excluding(Part(where, read))
            return parts
        return {"train": self._excluding(file_part(self._moby_dick(), self.text_column))}

    @functools.cache  # read once per DataModule
    def _excluded_texts(self) -> frozenset[str]:
        """The texts of `exclude_texts_of` (e.g. a classifier's test reviews, which pretraining must not read)."""
        texts = set()
        for file in self.excluded_files:
            for chunk in file_part(file, self.text_column).read():
                texts.update(chunk)
        return frozenset(texts)

    def _excluding(self, part: Part) -> Part:
        """`part` without the texts of `exclude_texts_of`; logs how many it held."""
        if not self.excluded_files:
            return part
        excluded = self._excluded_texts()
        dropped = sum(line in excluded for chunk in part.chunks() for line in chunk)
        log.info("data.exclude_texts_of: dropped %d texts of %s", dropped, part.where)
        return without_texts(part, excluded)

    def _splits(self) -> dict[str, Part]:
        """Every split: the given ones as they are, the missing ones cut from the end of train."""
        parts = self._given_splits()
        carved = ["train", *(name for name in SPLITS if name not in parts)]
        if len(carved) > 1:
            fractions = [self.split_fractions[SPLITS.index(name)] for name in carved]
            if len(carved) < len(SPLITS):
                fractions = [f / sum(fractions) for f in fractions]
            parts.update(zip(carved, carve(parts["train"], fractions)))
        return parts

    def build(self) -> dict:
        parts = self._splits()
        tokenizer = WordTokenizer.fit(parts["train"].chunks(), self.num_words)
        state = {"tokenizer": tokenizer.to_json()}
        for name in SPLITS:
            ids = encode(tokenizer, parts[name], desc=f"tokenizing {name}")
            if len(ids) < self.seq_len + 1:
                raise UserInputError(
                    f"{parts[name].where}: the {name} slice holds {len(ids)} words, fewer than data.seq_len+1="
                    f"{self.seq_len + 1}; give a longer text (it needs words, not just punctuation, on enough lines "
                    "to be cut at line ends by data.split_fractions)"
                )
            state[name] = ids
        return state

    def load(self, state: dict) -> None:
        self.ids = {name: torch.as_tensor(state[name]) for name in SPLITS}

    def preprocessing(self) -> Preprocessing:
        return Preprocessing("lm", self.tokenizer)

    def split_loader(self, name: str, train: bool):
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
        one_length_each = torch.ones(1).expand(len(windows))  # no per-window storage
        sampler = BatchIndexSampler(one_length_each, batch_size, shuffle=train, by_length=False, seed=self.seed,
                                    even_shards=train)
        return self.loader(windows, sampler)

