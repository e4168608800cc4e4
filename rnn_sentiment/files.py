"""Writing results so that a reader, or a crash, never sees half a file."""

import os
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    """Write beside the target, then rename over it; the process id keeps writers running side by
    side (sweep jobs under joblib or SLURM) off each other's temporary files."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)
