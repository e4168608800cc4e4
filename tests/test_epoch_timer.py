"""EpochTimer: training seconds per epoch, validations inside the epoch excluded, carried across a resume."""

from types import SimpleNamespace

import pytest

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


class Module:
    def __init__(self):
        self.logged = []

    def log(self, name, value, **options):
        self.logged.append((name, value))


def run(timer, clock, events, module):
    """events: (seconds later, hook, epoch); `batch` is a training batch's start."""
    for delay, hook, epoch in events:
        clock.now += delay
        trainer = SimpleNamespace(current_epoch=epoch)
        if hook == "batch":
            timer.on_train_batch_start(trainer, module, None, 0)
        else:
            getattr(timer, hook)(trainer, module)


def test_validations_and_checkpoint_writes_inside_and_at_the_end_of_an_epoch_are_not_training_time(clock):
    timer, module = EpochTimer(), Module()
    # 10 s of batches, a validation a quarter in (5 s, then 2 s writing checkpoints), 30 s more
    # batches, a 5 s validation at the end, then the epoch ends
    run(timer, clock, [(0, "on_train_epoch_start", 0), (0, "batch", 0), (10, "on_validation_epoch_start", 0),
                       (7, "batch", 0), (30, "on_validation_epoch_start", 0), (5, "on_train_epoch_end", 0)], module)
    assert timer.seconds == [40.0]
    assert module.logged == [("time/train_epoch_s", 40.0)]


def test_a_run_resumed_mid_epoch_counts_on_without_the_epoch_start_hook(clock):
    timer, module = EpochTimer(), Module()
    run(timer, clock, [(0, "batch", 0), (20, "on_train_epoch_end", 0), (0, "batch", 1)], module)
    clock.now += 7
    saved = timer.state_dict()  # a step checkpoint 7 s into epoch 1; the process dies
    resumed = EpochTimer()
    resumed.load_state_dict(saved)
    # Lightning resumes mid-epoch with the next batch, skipping on_train_epoch_start
    run(resumed, clock, [(100, "batch", 1), (3, "on_train_epoch_end", 1)], module)
    assert resumed.seconds == [20.0, 10.0]


def test_a_checkpoint_from_an_epochs_last_step_counts_that_epoch_once(clock):
    timer, module = EpochTimer(), Module()
    run(timer, clock, [(0, "batch", 0), (12, "on_validation_epoch_start", 0)], module)
    saved = timer.state_dict()  # written after the epoch's last step, before on_train_epoch_end
    resumed = EpochTimer()
    resumed.load_state_dict(saved)
    # the resumed run starts with epoch 1's first batch; neither epoch hook runs for the boundary
    run(resumed, clock, [(50, "batch", 1), (8, "on_train_epoch_end", 1)], module)
    assert resumed.seconds == [12.0, 8.0]
