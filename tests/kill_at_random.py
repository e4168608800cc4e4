"""Kills a training at random moments and resumes it until it ends, many times over; prints one JSON
line a run directory. Run by `tests/test_random_kills.py` in a Python of its own.

    python tests/kill_at_random.py <imdb folder> <work folder> <kills> <seed> <training overrides…>

Every try is a child forked from this process, which has imported the package but run nothing (so
a try starts in milliseconds, not the seconds of a new Python): it trains in a run directory, fresh
when that holds no checkpoint yet, else with `ckpt_path=last`, and is sent SIGKILL after a delay
drawn uniformly up to the length of an uninterrupted run — in set-up, mid-step, while a checkpoint
is written, in the test loop. A run directory whose try ended by itself is finished; the next kill
goes to a new one, until `kills` tries were killed. Every try must end by the kill or with exit 0.
"""

import contextlib
import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import rnn_sentiment.train as entry_point


def run_child(run_dir: Path, overrides: list[str]) -> int:
    """pid of a forked child that trains in `run_dir` (its output in `run_dir`/../<name>.out)."""
    resume = ["ckpt_path=last"] if list((run_dir / "checkpoints").glob("*.ckpt")) else []
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        with open(run_dir.parent / f"{run_dir.name}.out", "a") as out:
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
            sys.argv = ["train", f"hydra.run.dir={run_dir}", *overrides, *resume]
            try:
                entry_point.main()
                status = 0
            except SystemExit as stop:
                status = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def finish(pid: int) -> int:
    """The child's exit status; minus the signal's number when a signal ended it."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main(imdb: str, work: str, kills: str, seed: str, *training: str) -> None:
    work_dir, rng = Path(work), random.Random(int(seed))
    overrides = [f"data.path={imdb}", *training]
    straight = work_dir / "straight"
    straight.mkdir(parents=True)
    began = time.monotonic()
    assert finish(run_child(straight, overrides)) == 0, (work_dir / "straight.out").read_text()[-3000:]
    length = time.monotonic() - began
    print(json.dumps({"run": str(straight), "kills": 0, "seconds": round(length, 2)}), flush=True)

    killed, chain = 0, 0
    while killed < int(kills):
        run_dir, kills_here = work_dir / f"chain{chain}", 0
        run_dir.mkdir()
        cut_writes = 0  # kills that left a checkpoint's temporary file: mid-write
        while True:
            temporary = set(run_dir.glob("checkpoints/.*.tmp"))
            pid = run_child(run_dir, overrides)
            time.sleep(rng.uniform(0, length))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            status = finish(pid)
            if status == 0 and (run_dir / "metrics.json").exists():
                break
            assert status == -signal.SIGKILL, (run_dir.parent / f"{run_dir.name}.out").read_text()[-3000:]
            kills_here += 1
            cut_writes += bool(set(run_dir.glob("checkpoints/.*.tmp")) - temporary)
        killed += kills_here
        print(json.dumps({"run": str(run_dir), "kills": kills_here, "mid_write": cut_writes}), flush=True)
        chain += 1


if __name__ == "__main__":
    main(*sys.argv[1:])
