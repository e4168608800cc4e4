"""The run's log file, `<run directory>/train.log`: what a training reports (its overrides, the
model summary, every validation's metrics, progress, warnings, the final metrics, the error that
ended it), time-stamped, while the console shows what it always did.

Under Hydra the file is the one Hydra's job logging opens; `train(cfg)` called without Hydra opens
it itself. Lightning's loggers do not propagate to the root logger (Lightning gives them a handler
of their own when it is imported first), so the file's handler is added to them directly.
"""

import logging
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only

LOG_FILE = "train.log"
RUN = logging.getLogger("rnn_sentiment.run")  # what `say` prints, for the log file only
RUN.propagate = False
RUN.setLevel(logging.INFO)
LIBRARY_LOGGERS = ("lightning.pytorch", "lightning.fabric")
FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # Hydra's


def interactive() -> bool:
    """Whether a person watches the output: both streams are a terminal (not a file, a pipe, SLURM's log)."""
    return sys.stdout.isatty() and sys.stderr.isatty()


def say(message: str, error: bool = False) -> None:
    """`message` on the console (stdout; stderr for an error) and in the run's log file."""
    print(message, file=sys.stderr if error else sys.stdout, flush=True)
    RUN.log(logging.ERROR if error else logging.INFO, message)


def _hydra_file_handler(file: Path) -> logging.FileHandler | None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == file.resolve():
            return handler
    return None


@contextmanager
def run_log(output_dir: Path):
    """While it lasts, the package's run lines, Lightning's log records and warnings also go to
    `output_dir/train.log` (rank 0 only). The error that ends a run is written there by the entry
    point (`errors.exit_on_user_error`), which also sees the errors raised before training starts."""
    if rank_zero_only.rank != 0:
        yield
        return
    file = output_dir / LOG_FILE
    handler = _hydra_file_handler(file)
    own = handler is None
    if own:
        output_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(file, encoding="utf-8")
        handler.setFormatter(logging.Formatter(FORMAT))
    loggers = [RUN, *map(logging.getLogger, LIBRARY_LOGGERS)]
    for logger in loggers:
        logger.addHandler(handler)
    show = warnings.showwarning

    def show_and_log(message, category, filename, lineno, file=None, line=None):
        show(message, category, filename, lineno, file, line)
        RUN.warning(f"{category.__name__}: {message} ({filename}:{lineno})")

    warnings.showwarning = show_and_log
    try:
        yield
    finally:
        warnings.showwarning = show
        for logger in loggers:
            logger.removeHandler(handler)
        if own:
            handler.close()
