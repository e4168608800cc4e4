"""How many threads torch's CPU kernels use: the cores this process may run on, less those other
processes keep busy.

PyTorch's OpenMP threads spin-wait at the end of every parallel region. When another busy process
holds one of two cores, a two-thread team waits at every small kernel for its descheduled member (an
RNN takes several kernels a step), and training runs 2-4x slower than it would on one thread; on an
idle machine two threads are the faster (docs/performance.md: shared cores). So the thread count
follows the other processes' CPU use, measured from `/proc/stat` less this process's own CPU time:
before training, and again every `every_seconds` while it runs. `OMP_NUM_THREADS` set by the user
wins: nothing is changed then. Where `/proc/stat` is missing (not Linux), nothing is changed either.
"""

import os
import time
from pathlib import Path

import torch
from lightning import Callback

from rnn_sentiment.core.run_log import RUN

PROC_STAT = Path("/proc/stat")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds() -> tuple[float, int] | None:
    """(busy CPU seconds of the whole machine since boot, its number of CPUs) from `/proc/stat`, or None."""
    try:
        lines = PROC_STAT.read_text().splitlines()
    except OSError:
        return None
    fields = [int(value) for value in lines[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return (sum(fields[:8]) - idle) / TICKS, cpus


class OtherLoad:
    """The cores' worth of CPU that other processes used between two readings."""

    def __init__(self):
        self._mark = None

    def reset(self) -> bool:
        """Starts an interval; False where the machine's CPU time cannot be read."""
        machine = _cpu_seconds()
        self._mark = None if machine is None else (time.monotonic(), machine[0], time.process_time())
        return machine is not None

    def cores(self) -> float:
        """Other processes' CPU seconds per second since `reset` (or the last call), scaled from the
        machine's CPUs to those this process may use; starts the next interval."""
        then, busy_then, own_then = self._mark
        now, (busy, cpus), own = time.monotonic(), _cpu_seconds(), time.process_time()
        self._mark = (now, busy, own)
        others = max(0.0, (busy - busy_then) - (own - own_then)) / max(now - then, 1e-6)
        return others * len(os.sched_getaffinity(0)) / max(cpus, 1)


def threads_for(other_cores: float) -> int:
    """The thread count for this process's cores with `other_cores` of them kept busy elsewhere: at
    least one, at most all of them."""
    usable = len(os.sched_getaffinity(0))
    return max(1, min(usable, round(usable - other_cores)))


class ThreadsFromIdleCores(Callback):
    """Sets `torch.set_num_threads` to the cores other processes leave idle: from a `probe_seconds`
    reading before training, then from each `every_seconds` of training (a line in the log when it
    changes). Does nothing where `OMP_NUM_THREADS` is set or `/proc/stat` cannot be read."""

    def __init__(self, every_seconds: float = 30.0, probe_seconds: float = 0.3):
        self.every_seconds = every_seconds
        self.probe_seconds = probe_seconds
        self.load = OtherLoad()
        self.active = False
        self._checked = 0.0

    def _set(self, other_cores: float) -> None:
        threads = threads_for(other_cores)
        if threads != torch.get_num_threads():
            RUN.info(f"threads: {torch.get_num_threads()} -> {threads} (other processes keep {other_cores:.1f} "
                     "cores busy; OMP_NUM_THREADS fixes the count)")
            torch.set_num_threads(threads)

    def on_fit_start(self, trainer, pl_module):
        self.active = "OMP_NUM_THREADS" not in os.environ and trainer.strategy.root_device.type == "cpu"
        if self.active and self.load.reset():
            time.sleep(self.probe_seconds)
            self._set(self.load.cores())
            self._checked = time.monotonic()
        else:
            self.active = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.active and time.monotonic() - self._checked >= self.every_seconds:
            self._set(self.load.cores())
            self._checked = time.monotonic()
