"""Writing files so that a reader, a crash or a concurrent writer never sees half a file."""

import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

PARTIAL = ".tmp"


def partial_path(path: Path) -> Path:
    """A new temporary name beside `path` to write it under before renaming it to `path`: random, so
    no two writers share one, and found by `unfinished_writes` when a killed writer left it behind."""
    return Path(path).with_name(f".{Path(path).name}.{secrets.token_hex(8)}{PARTIAL}")


@contextmanager
def open_atomically(path: Path, binary: bool = False) -> Iterator[IO]:
    """A file to write `path` through: it lands under `path`'s name only once the block ends
    without an error, flushed to disk, and is deleted otherwise.

    The temporary file sits beside `path` (same filesystem, so the rename is atomic) under a
    random name created exclusively, so writers side by side (threads, sweep jobs, DDP ranks,
    nodes sharing a disk) never write into each other's file; the last rename wins whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    try:
        with open(partial, "xb" if binary else "x", **({} if binary else {"encoding": "utf-8", "newline": ""})) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def unfinished_writes(path: Path) -> list[Path]:
    """Temporary files that writers of `path` left behind (a killed process cannot remove its own);
    delete them only while no writer of `path` can be running, e.g. under a lock that writers hold."""
    return list(Path(path).parent.glob(f".{Path(path).name}.*{PARTIAL}"))


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` whole, or leave `path` as it was."""
    with open_atomically(path) as file:
        file.write(text)


def write_json_atomically(path: Path, payload: dict) -> None:
    """Write `payload` to `path` as indented JSON with a final newline, whole or not at all."""
    write_text_atomically(path, json.dumps(payload, indent=2) + "\n")
