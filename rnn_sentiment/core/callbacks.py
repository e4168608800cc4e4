"""Lightning callbacks of the package: epoch timing, the latest validation's metrics, plain progress
lines, a hard stop on a non-finite loss, periodic checkpoints, and a checkpoint-and-exit on the
preemption signals of clusters."""

import math
import signal
import sys
import time
from pathlib import Path

from lightning import Callback
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from rnn_sentiment.core.files import partial_path
from rnn_sentiment.core.run_log import RUN, interactive, say


class EpochTimer(Callback):
    """Logs `time/train_epoch_s` at the end of each epoch: seconds of training batches, every
    validation and checkpoint write excluded (also those inside the epoch, as `val_check_interval`
    < 1 runs them). The clock runs from a training batch's start to the next validation or epoch
    end, so a run resumed mid-epoch (Lightning then skips `on_train_epoch_start`) keeps counting. The
    seconds travel in checkpoints: a resumed run reports every epoch, the interrupted one included."""

    def __init__(self):
        self.seconds: list[float] = []  # one per finished epoch
        self.epoch_so_far = 0.0  # of the epoch in progress, up to the last pause
        self.epoch = None  # the epoch that epoch_so_far belongs to
        self._start = None

    def _pause(self) -> None:
        if self._start is not None:
            self.epoch_so_far += time.perf_counter() - self._start
            self._start = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.epoch != trainer.current_epoch:
            # epoch `epoch` ended without on_train_epoch_end here: its checkpoint came from its last step
            if self.epoch is not None and len(self.seconds) == self.epoch:
                self.seconds.append(self.epoch_so_far)
            self.epoch_so_far = 0.0
            self.epoch = trainer.current_epoch
        if self._start is None:
            self._start = time.perf_counter()

    def on_validation_epoch_start(self, trainer, pl_module):
        self._pause()

    def on_train_epoch_end(self, trainer, pl_module):
        self._pause()
        if self.epoch == trainer.current_epoch and len(self.seconds) == self.epoch:
            self.seconds.append(self.epoch_so_far)
            self.epoch_so_far = 0.0
            pl_module.log("time/train_epoch_s", self.seconds[-1], on_epoch=True, sync_dist=True)

    def state_dict(self) -> dict:
        running = self.epoch_so_far + (time.perf_counter() - self._start if self._start is not None else 0.0)
        return {"seconds": list(self.seconds), "epoch_so_far": running, "epoch": self.epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self.seconds = list(state_dict["seconds"])
        self.epoch_so_far, self.epoch = state_dict["epoch_so_far"], state_dict["epoch"]
        self._start = None



class LastValidation(Callback):
    """The metrics (`val/...`) of the latest validation, kept in checkpoints: a run resumed after its
    last validation (killed in the test loop, say) validates no more, yet reports what it measured."""

    def __init__(self):
        self.metrics: dict[str, float] = {}

    def on_validation_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}

    def state_dict(self) -> dict:
        return {"metrics": dict(self.metrics)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.metrics = dict(state_dict["metrics"])


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


class PlainProgress(Callback):
    """Plain progress lines for output nobody watches live (a file, `nohup`, SLURM, CI): every
    `every_seconds` of training, `epoch E step S/T: R steps/s, eta H:MM:SS, loss L`, and after each
    validation its metrics. On a terminal (where Lightning's bar shows progress) they go to the run's
    log file only."""

    def __init__(self, every_seconds: float = 60.0):
        self.every_seconds = every_seconds
        self._last = None  # (time, global step) of the last line

    def _emit(self, message: str) -> None:
        if interactive():
            RUN.info(message)
        else:
            say(message)

    def on_train_start(self, trainer, pl_module):
        self._last = (time.monotonic(), trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        now, step = time.monotonic(), trainer.global_step
        then, before = self._last
        if now - then < self.every_seconds or step == before:
            return
        rate = (step - before) / (now - then)
        total = trainer.estimated_stepping_batches
        left = f", eta {_clock((total - step) / rate)}" if math.isfinite(total) and rate > 0 else ""
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        shown = f", loss {float(loss):.4f}" if loss is not None else ""
        of = f"/{int(total)}" if math.isfinite(total) else ""
        self._emit(f"epoch {trainer.current_epoch} step {step}{of}: {rate:.2f} steps/s{left}{shown}")
        self._last = (now, step)

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/") and v.numel() == 1}
        shown = " ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()))
        self._emit(f"validation at epoch {trainer.current_epoch} step {trainer.global_step}: {shown}")


class StopOnNonFiniteLoss(Callback):
    """Stops at the first NaN or infinite training loss, naming the step; checkpoints written so far stay."""

    def on_before_backward(self, trainer, pl_module, loss):
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(
                f"training loss is {float(loss)} at global step {trainer.global_step} (epoch {trainer.current_epoch}); "
                "lower model.lr or set trainer.gradient_clip_val. The checkpoints written before it are intact."
            )



class PeriodicCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint(every_n_train_steps=N)` that passes over a step at an epoch's last batch.

    Lightning (2.6) resumes a state saved there as if that epoch and the next had ended: its validation
    and the whole next epoch are skipped. The epoch-end checkpoint a moment later holds the same weights;
    a kill between the two resumes from the step before, which Lightning replays exactly."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


class CheckpointOnPreemption(Checkpoint):
    """On SIGTERM or SIGUSR1 during `fit`: finish the running batch, save the exact state, exit.

    SIGTERM is what SLURM, Kubernetes and `kill` send before killing; SIGUSR1 is SLURM's early warning
    (`sbatch --signal=USR1@<seconds>`). The signal only sets a flag; the next point where Lightning's
    `ModelCheckpoint` could save too (a training-batch end within the epoch, else the epoch end) writes
    `<dirpath>/<filename>` through a temporary name and a rename, so the file is whole or absent; it is
    the newest checkpoint of the run, which `ckpt_path=last` resumes: model, optimizer, loop counters,
    the DataLoader's position in the epoch and the language model's carried BPTT state. The run then
    stops with one line on stderr and exit status 128 + the signal number (143 for SIGTERM, 138 for
    SIGUSR1): what a shell reports for a process that signal killed, so schedulers count the run as
    interrupted, not finished (a Kubernetes Job retries it, `a && b` stops); `metrics.json` is not written.

    Lightning's own SIGTERM handling (raise `SIGTERMException` at the next batch, even in the middle of a
    validation, without a checkpoint) is replaced during training; a SIGUSR1 handler already there, such as
    Lightning's SLURM auto-requeue (`SLURMEnvironment(auto_requeue=True)`: an `hpc_ckpt_*.ckpt` in the run
    directory and `scontrol requeue`), still runs first. Under DDP the ranks agree at each check, so a
    signal to any one rank stops them all at the same batch.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self, dirpath: str, filename: str = "preempted.ckpt"):
        self.path = Path(dirpath) / filename
        self.received: int | None = None
        self._lightning_handlers = {}

    def on_train_start(self, trainer, pl_module):
        # after Lightning registered its handlers (Trainer._run), so a SLURM requeue handler can be chained
        self.received = None
        self._lightning_handlers = {signum: signal.getsignal(signum) for signum in self.SIGNALS}
        for signum in self.SIGNALS:
            earlier = self._lightning_handlers[signum] if signum != signal.SIGTERM else None
            signal.signal(signum, self._handler(earlier))

    def _handler(self, earlier):
        def record(signum, frame):
            self.received = self.received or signum
            if callable(earlier):
                earlier(signum, frame)

        return record

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        # after an epoch's last batch the checkpoint waits for the epoch end (validation included),
        # where ModelCheckpoint saves too: a resume from between the two would skip that validation
        if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            self._stop_if_signalled(trainer)

    def on_train_epoch_end(self, trainer, pl_module):
        # a `Checkpoint` subclass: Lightning calls it after the ModelCheckpoints, whose update it then holds
        self._stop_if_signalled(trainer)

    def on_train_end(self, trainer, pl_module):
        # Lightning's teardown then restores the handlers from before `fit`
        for signum, handler in self._lightning_handlers.items():
            signal.signal(signum, handler)

    def _stop_if_signalled(self, trainer):
        if not trainer.strategy.reduce_boolean_decision(self.received is not None, all=False):
            return
        signum = self.received or signal.SIGTERM
        partial = partial_path(self.path)  # Lightning writes the checkpoint (on rank 0); the rename makes it whole
        try:
            trainer.save_checkpoint(partial)
            if trainer.is_global_zero:
                partial.replace(self.path)
        finally:
            partial.unlink(missing_ok=True)
        if trainer.is_global_zero:
            print(
                f"stopped by {signal.Signals(signum).name} at global step {trainer.global_step} "
                f"(epoch {trainer.current_epoch}): saved {self.path}; resume with "
                f"hydra.run.dir={trainer.default_root_dir} ckpt_path=last (exit status {128 + signum})",
                file=sys.stderr,
                flush=True,
            )
        raise SIGTERMException(128 + signum)
