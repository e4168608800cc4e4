"""One process per run directory: a training (or a resume, or its test) holds `<run dir>/.lock`
while it runs, so a second one started on the same directory stops at once with one line naming the
first, instead of both writing, rotating and reading the same checkpoints.

The lock is an `flock` on the file, which the operating system drops when its process ends however
it ends: a lock left by a killed process is simply taken, with a note naming that process.
"""

import fcntl
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only

from rnn_sentiment.core.errors import UserInputError

LOCK_FILE = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def run_dir_lock(output_dir: Path):
    """Holds `output_dir/.lock` (on rank 0; DDP's other ranks share its run) while the block runs;
    a `UserInputError` naming the process that holds it."""
    if rank_zero_only.rank != 0:
        yield
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    with open(output_dir / LOCK_FILE, "a+") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            raise UserInputError(
                f"{output_dir} is in use by process {holder} (a training or resume of this run directory); wait "
                "for it to end, or give this run another hydra.run.dir"
            ) from None
        file.seek(0)
        previous = file.read().strip()
        if previous.isdigit() and int(previous) != os.getpid() and not _alive(int(previous)):
            print(f"note: {output_dir}: taking over the lock of process {previous}, which is gone", file=sys.stderr)
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        try:
            yield
        finally:  # a lock file that still names a process was left by a kill
            file.seek(0)
            file.truncate()
            file.flush()
            fcntl.flock(file, fcntl.LOCK_UN)
