"""EpochTimer: training seconds per epoch, validations inside the epoch excluded, carried across a resume."""

from types import SimpleNamespace

import pytest
from lightning.pytorch.trainer.states import TrainerFn

from rnn_sentiment.core import callbacks
from rnn_sentiment.core.callbacks import EpochTimer


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(callbacks.time, "perf_counter", clock)
    return clock


def fitting(epoch):
    return SimpleNamespace(current_epoch=epoch, sanity_checking=False, state=SimpleNamespace(fn=TrainerFn.FITTING))


class Module:
    def __init__(self):
        self.logged = []

    def log(self, name, value, **options):
        self.logged.append((name, value))


def run(timer, clock, events, module):
    """events: (seconds later, hook, epoch)."""
    for delay, hook, epoch in events:
        clock.now += delay
        getattr(timer, hook)(fitting(epoch), module)


def test_validations_inside_and_at_the_end_of_an_epoch_are_not_training_time(clock):
    timer, module = EpochTimer(), Module()
    # 10 s of training, a 5 s validation a quarter in, 30 s more training, a 5 s validation at the end
    run(timer, clock, [(0, "on_train_epoch_start", 0), (10, "on_validation_epoch_start", 0),
                       (5, "on_validation_epoch_end", 0), (30, "on_validation_epoch_start", 0),
                       (5, "on_validation_epoch_end", 0), (0, "on_train_epoch_end", 0)], module)
    assert timer.seconds == [40.0]
    assert module.logged == [("time/train_epoch_s", 40.0)]


def test_a_resumed_run_keeps_the_seconds_before_the_interruption(clock):
    timer, module = EpochTimer(), Module()
    run(timer, clock, [(0, "on_train_epoch_start", 0), (20, "on_train_epoch_end", 0),
                       (0, "on_train_epoch_start", 1)], module)
    clock.now += 7
    saved = timer.state_dict()  # a step checkpoint 7 s into epoch 1; the process dies
    resumed = EpochTimer()
    resumed.load_state_dict(saved)
    run(resumed, clock, [(100, "on_train_epoch_start", 1), (3, "on_train_epoch_end", 1)], module)
    assert resumed.seconds == [20.0, 10.0]


def test_a_checkpoint_from_the_end_of_epoch_validation_counts_that_epoch_once(clock):
    timer, module = EpochTimer(), Module()
    run(timer, clock, [(0, "on_train_epoch_start", 0), (12, "on_validation_epoch_start", 0)], module)
    saved = timer.state_dict()  # written when the epoch's last validation ended, before on_train_epoch_end
    resumed = EpochTimer()
    resumed.load_state_dict(saved)
    run(resumed, clock, [(50, "on_train_epoch_start", 1), (8, "on_train_epoch_end", 1)], module)
    assert resumed.seconds == [12.0, 8.0]
