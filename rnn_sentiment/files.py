"""Writing results so that a reader, or a crash, never sees half a file."""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


def write_text_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename over it; the process id keeps writers running side by
    side (sweep jobs under joblib or SLURM) off each other's temporary files."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)


@contextmanager
def atomic_output(path: Path) -> Iterator[TextIO]:
    """A text stream whose content replaces `path` only when the `with` block ends without error.

    For outputs written piece by piece: the rows go to a uniquely named hidden file beside `path`,
    renamed over it at the end; an exception (Ctrl-C included) deletes that file instead, so `path`
    is either untouched or complete.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        with partial.open("x", encoding="utf-8", newline="") as stream:
            yield stream
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
