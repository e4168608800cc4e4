"""The one exception type for bad input, and how entry points report it."""

import errno
import logging
import sys
from functools import wraps
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode

from rnn_sentiment.core.files import write_json_atomically

log = logging.getLogger(__name__)

FAILURE_FILE = "error.json"  # a failed multirun job's reason, which the sweep summary reads


class UserInputError(ValueError):
    """A problem with the user's data, options or files; the message says what to do."""


def check_choice(option: str, value, choices) -> None:
    """A `UserInputError` naming `option` and the valid `choices` when `value` is not one of them."""
    if value not in choices:
        raise UserInputError(f"{option}={value!r} is unknown; use one of {', '.join(map(str, choices))}")


class SweepJobFailed(CompactHydraException):
    """An expected failure (bad input, non-finite loss) of one multirun job; Hydra prints it as one line."""


def _one_line(error: Exception) -> str:
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def record_failure(message: str, error: BaseException) -> None:
    """Write why this multirun job failed (`message`, one line) into its directory, for the sweep's summary."""
    hydra_cfg = HydraConfig.get()
    failure = {"error": message, "type": type(error).__name__, "overrides": list(hydra_cfg.overrides.task)}
    write_json_atomically(Path(hydra_cfg.runtime.output_dir) / FAILURE_FILE, failure)


def _to_run_log(message: str, error: BaseException | None = None) -> None:
    """`message` (with `error`'s traceback) in the job's log file that Hydra opened (`train.log`),
    and not on the console again: a run directory whose start or run failed says why."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            exc_info = (type(error), error, error.__traceback__) if error is not None else None
            handler.handle(logging.LogRecord("rnn_sentiment.run", logging.ERROR, __file__, 0, message, None, exc_info))


WRITE_FAILURES = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file too large",
                  errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                  errno.EPERM: "operation not permitted", errno.ENOTDIR: "a file is in the way"}
FIXES = {errno.EROFS: "make it writable", errno.EACCES: "make it writable", errno.EPERM: "make it writable",
         errno.ENOTDIR: "move that file"}


def cannot_write(what: str, error: OSError, kept: str) -> UserInputError:
    """One line for a write that `error` refused: `what` could not be written, why, the fix that fits
    (space for a full disk, permissions for an unwritable place) and what is `kept`."""
    fix = FIXES.get(error.errno, "free space there")
    return UserInputError(
        f"cannot write {what}: {error.strerror or WRITE_FAILURES.get(error.errno, error)}; {fix} or give the run "
        f"another directory (hydra.run.dir=…, paths.log_dir=…); {kept}"
    )


def as_user_error(error: BaseException) -> BaseException:
    """A full disk, a quota, a file-size limit or an unwritable directory as a `UserInputError` naming
    the file; any other error as it is."""
    if isinstance(error, OSError) and error.errno in WRITE_FAILURES:
        return cannot_write(error.filename or "a file of the run", error, "files written before are intact")
    return error


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def exit_on_user_error(main):
    """Print a `UserInputError` (exit status 2) or a non-finite loss (status 3) as one line on stderr.

    A multirun job does not exit, which would end the whole sweep: it writes its error to `error.json`
    in its directory and raises it to Hydra, which marks the job failed and launches the next one (the
    Optuna sweeper records the trial as failed)."""

    @wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except Exception as raised:
            error = as_user_error(raised)
            expected = isinstance(error, (UserInputError, FloatingPointError))
            if _in_multirun():
                job = Path(HydraConfig.get().runtime.output_dir).name  # its directory in the sweep
                record_failure(str(error) if expected else _one_line(error), error)
                if not expected:
                    log.exception(f"job {job} failed")
                    raise
                log.error(f"error: {error}")
                raise SweepJobFailed(f"error: job {job} failed: {error}") from error
            if not expected:
                _to_run_log(f"the run stopped: {_one_line(error)}", error)
                raise
            print(f"error: {error}", file=sys.stderr)
            if error is raised:  # after a failed write the log file may not take a line either
                _to_run_log(f"error: {error}")
            sys.exit(2 if isinstance(error, UserInputError) else 3)

    return wrapper
