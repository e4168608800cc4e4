"""The run's (or the sweep's) directory checked writable before Hydra writes into it: an unwritable
place is one line naming the option and the path, not Hydra's traceback of its `mkdir`."""

import errno
import os
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rnn_sentiment.core.errors import cannot_write


def unwritable_reason(directory: Path) -> OSError | None:
    """Why `directory` could not be made or written to (its nearest existing ancestor decides), or None."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return OSError(errno.ENOTDIR, "a file is in the way", str(existing))
    if not os.access(existing, os.W_OK | os.X_OK):
        code = errno.EROFS if os.statvfs(existing).f_flag & os.ST_RDONLY else errno.EACCES
        return OSError(code, os.strerror(code), str(existing))
    return None


def _check(option: str, directory: str) -> None:
    reason = unwritable_reason(Path(directory).expanduser().absolute())
    if reason is not None:
        print(f"error: {option}={directory}: {cannot_write(reason.filename, reason, 'nothing was written')}",
              file=sys.stderr)
        sys.exit(2)


class WritableOutputDir(Callback):
    """Hydra callback: stops with exit status 2 and one line when the output directory cannot be written."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        _check("hydra.run.dir", config.hydra.run.dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        _check("hydra.sweep.dir", config.hydra.sweep.dir)
