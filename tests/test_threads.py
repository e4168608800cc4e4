"""Threads from the cores other processes leave idle (core/threads.py), read from a /proc/stat
written by the test: no timing, no real load."""

from types import SimpleNamespace

import pytest
import torch

from rnn_sentiment.core import threads
from rnn_sentiment.core.threads import OtherLoad, ThreadsFromIdleCores, threads_for


class Machine:
    """A fake clock, this process's CPU time and a /proc/stat of `cpus` CPUs whose busy ticks grow."""

    def __init__(self, tmp_path, monkeypatch, cpus=2):
        self.stat, self.cpus, self.now, self.own, self.busy = tmp_path / "stat", cpus, 100.0, 5.0, 0
        monkeypatch.setattr(threads, "PROC_STAT", self.stat)
        monkeypatch.setattr(threads, "TICKS", 100)
        monkeypatch.setattr(threads.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(threads.time, "process_time", lambda: self.own)
        monkeypatch.setattr(threads.time, "sleep", lambda seconds: self.run(seconds, others=self.others))
        monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(cpus)))
        self.others = 0.0
        self.write()

    def write(self):
        idle = 10_000
        lines = [f"cpu  {self.busy} 0 0 {idle} 0 0 0 0 0 0"] + [f"cpu{i} 0 0 0 0 0 0 0 0 0 0" for i in range(self.cpus)]
        self.stat.write_text("\n".join(lines) + "\n")

    def run(self, seconds, others, own=0.0):
        """`seconds` pass; other processes use `others` cores and this one `own` of CPU time."""
        self.now += seconds
        self.own += own * seconds
        self.busy += round((others + own) * seconds * 100)
        self.write()


@pytest.mark.parametrize("others, own", [(0.0, 2.0), (1.0, 1.0), (2.0, 0.0), (0.5, 1.5)])
def test_other_processes_load_is_the_machines_less_this_ones(tmp_path, monkeypatch, others, own):
    machine = Machine(tmp_path, monkeypatch)
    load = OtherLoad()
    assert load.reset()
    machine.run(10, others=others, own=own)
    assert load.cores() == pytest.approx(others, abs=0.01)


def test_load_is_scaled_to_the_cpus_this_process_may_use(tmp_path, monkeypatch):
    machine = Machine(tmp_path, monkeypatch, cpus=8)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1})  # 2 of the machine's 8
    load = OtherLoad()
    load.reset()
    machine.run(10, others=4.0)  # half the machine busy elsewhere: one of our two cores, on average
    assert load.cores() == pytest.approx(1.0)


@pytest.mark.parametrize("others, expected", [(0.0, 2), (0.4, 2), (0.6, 1), (1.0, 1), (2.0, 1), (5.0, 1)])
def test_threads_are_the_idle_cores_at_least_one(monkeypatch, others, expected):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1})
    assert threads_for(others) == expected


def fake_trainer():
    return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")))


def test_the_callback_follows_the_load_and_omp_num_threads_wins(tmp_path, monkeypatch):
    machine = Machine(tmp_path, monkeypatch)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        callback = ThreadsFromIdleCores(every_seconds=30)
        machine.others = 1.0  # a busy neighbour during the probe
        callback.on_fit_start(fake_trainer(), None)
        assert torch.get_num_threads() == 1
        machine.run(10, others=0.0, own=1.0)
        callback.on_train_batch_end(fake_trainer(), None, None, None, 0)
        assert torch.get_num_threads() == 1  # checked every 30 s, not sooner
        machine.run(25, others=0.0, own=1.0)  # the neighbour left
        callback.on_train_batch_end(fake_trainer(), None, None, None, 1)
        assert torch.get_num_threads() == 2

        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        torch.set_num_threads(2)
        pinned = ThreadsFromIdleCores(every_seconds=0)
        pinned.on_fit_start(fake_trainer(), None)
        machine.run(10, others=2.0)
        pinned.on_train_batch_end(fake_trainer(), None, None, None, 0)
        assert torch.get_num_threads() == 2 and not pinned.active
    finally:
        torch.set_num_threads(before)
