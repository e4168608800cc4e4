"""The tokenized-data cache: built once per key, safe to read, shared by concurrent jobs.

A cache file holds `{"format", "digest", "state"}`, numpy arrays stored as tensors so that it
loads with `torch.load(weights_only=True)`. A file that is damaged (a half-copied file, flipped
bits: the digest over its contents no longer matches), unsafe, or of another format is rebuilt
with a one-line note on stderr. Jobs starting together (a parallel sweep, DDP ranks) take a lock
beside the file: the first builds and writes it, the others wait and read the same data.
"""

import hashlib
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from filelock import FileLock

from rnn_sentiment.core.checkpoints import UnsafeFileError, load_plain
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.files import open_atomically, unfinished_writes

FORMAT = 3  # 3: class names of numeric labels in numeric order, rows without text left out


def digest(state) -> str:
    """A hash of every key, array (dtype, shape, bytes) and value in `state`."""
    hasher = hashlib.sha256()  # hardware-accelerated on most CPUs: ~0.2 s for IMDB's 50,000 reviews

    def walk(node):
        if isinstance(node, dict):
            for key in sorted(node):
                hasher.update(repr(key).encode())
                walk(node[key])
        elif isinstance(node, (list, tuple)):
            hasher.update(f"[{len(node)}".encode())
            for item in node:
                walk(item)
        elif isinstance(node, np.ndarray):
            hasher.update(f"{node.dtype}{node.shape}".encode())
            hasher.update(np.ascontiguousarray(node).view(np.uint8))
        else:
            hasher.update(repr(node).encode())

    walk(state)
    return hasher.hexdigest()


def _convert(node, array_type: type, convert: Callable):
    if isinstance(node, dict):
        return {key: _convert(value, array_type, convert) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(_convert(value, array_type, convert) for value in node)
    return convert(node) if isinstance(node, array_type) else node


def _read(file: Path) -> dict | None:
    """The cached state, or None (with a note why) when the file must be rebuilt."""
    try:
        stored = load_plain(file)
    except UnsafeFileError:
        problem = "it holds objects beyond tensors and plain values (refused, nothing in it ran)"
    except UserInputError:
        problem = "it is truncated or corrupt"
    else:
        if not isinstance(stored, dict) or stored.get("format") != FORMAT:
            problem = "it was written by another version of rnn-lightning"
        else:
            state = _convert(stored.get("state"), torch.Tensor, torch.Tensor.numpy)
            if digest(state) == stored.get("digest"):
                return state
            problem = "its contents do not match its checksum"
    print(f"note: rebuilding the tokenized-data cache {file}: {problem}", file=sys.stderr)
    return None


def _write(file: Path, state: dict) -> None:
    stored = {"format": FORMAT, "digest": digest(state), "state": _convert(state, np.ndarray, torch.from_numpy)}
    with open_atomically(file, binary=True) as out:
        torch.save(stored, out)


def load_or_build(file: Path, build: Callable[[], dict]) -> dict:
    """`build()`'s state (a dict of numpy arrays, strings, numbers, lists and dicts), read from
    `file` when a sound copy is there, else built and written to it."""
    file.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{file}.lock"):
        state = _read(file) if file.exists() else None
        if state is None:
            for leftover in unfinished_writes(file):  # of a build killed mid-write; no writer is running now
                leftover.unlink(missing_ok=True)
            state = build()
            _write(file, state)
    return state
