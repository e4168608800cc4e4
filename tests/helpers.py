"""Callbacks the tests inject into trainings (subprocesses, or the test's own process)."""

import copy
import json
import os
import signal
from pathlib import Path

import torch
from lightning import Callback


class KillAtStep(Callback):
    """SIGKILLs its own process at a global step, like a crash or an OOM killer."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class PoisonLossAtStep(Callback):
    """Turns the model's weights to NaN at a global step."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            for parameter in pl_module.parameters():
                parameter.data.fill_(float("nan"))


class EpochTrace(Callback):
    """Appends each epoch's learning rate and val/ppl to a JSON-lines file."""

    def __init__(self, path: str):
        self.path = path

    def on_train_epoch_end(self, trainer, pl_module):
        # validation has run and the epoch's scheduler step has not yet happened
        row = {"lr": trainer.optimizers[0].param_groups[0]["lr"], "ppl": float(trainer.callback_metrics["val/ppl"])}
        with open(self.path, "a") as trace:
            trace.write(json.dumps(row) + "\n")


class InOneJob:
    """Mixed in before a step callback: it acts in one job of a multirun only (Hydra's job number)."""

    def __init__(self, step: int, job: int):
        super().__init__(step)
        self.job = job

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.get().job.num == self.job:
            super().on_train_batch_start(trainer, pl_module, batch, batch_idx)


class PoisonLossInJob(InOneJob, PoisonLossAtStep):
    """`PoisonLossAtStep` in one job of a multirun only, like a diverging trial."""


class KillInJob(InOneJob, KillAtStep):
    """`KillAtStep` in one job of a multirun only: the whole sweep dies with it."""


class SignalAtStep(Callback):
    """Sends a signal (SIGTERM, SIGUSR1, ...) to its own process at a global step, like a cluster preempting the job."""

    def __init__(self, step: int, signal_name: str = "SIGTERM"):
        self.step = step
        self.signum = signal.Signals[signal_name]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class KeepModule(Callback):
    """Keeps a copy of the module as fit leaves it (before a test restores the best checkpoint into it)."""

    kept: list = []

    def on_fit_end(self, trainer, pl_module):
        KeepModule.kept.append(copy.deepcopy(pl_module).cpu().eval())


class RecordRank(Callback):
    """Writes `rank<global rank>-of-<world size>-pid<process id>` into `folder` when training starts."""

    def __init__(self, folder: str):
        self.folder = Path(folder)

    def on_train_start(self, trainer, pl_module):
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"rank{trainer.global_rank}-of-{trainer.world_size}-pid{os.getpid()}").touch()


class RecordGradientNorms(Callback):
    """Records, at every optimizer step, the gradients' total norm before and after Lightning's clipping,
    in `RecordGradientNorms.norms` as (before, after) pairs."""

    norms: list = []

    def on_train_start(self, trainer, pl_module):
        RecordGradientNorms.norms = []
        clip = pl_module.configure_gradient_clipping

        def total_norm() -> float:
            grads = [p.grad.detach().float() for p in pl_module.parameters() if p.grad is not None]
            return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))

        def recorded(optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
            before = total_norm()
            clip(optimizer, gradient_clip_val, gradient_clip_algorithm)
            RecordGradientNorms.norms.append((before, total_norm()))

        pl_module.configure_gradient_clipping = recorded
