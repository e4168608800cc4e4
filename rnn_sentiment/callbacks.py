"""Lightning callbacks of the package: epoch timing and a hard stop on a non-finite loss."""

import math
import time

from lightning import Callback


class EpochTimer(Callback):
    """Logs `time/train_epoch_s`: seconds of training per epoch, validation excluded."""

    def __init__(self):
        self.seconds: list[float] = []
        self._start = None

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.perf_counter()

    def _stop(self, pl_module):
        if self._start is not None:
            self.seconds.append(time.perf_counter() - self._start)
            self._start = None
            pl_module.log("time/train_epoch_s", self.seconds[-1], on_epoch=True, sync_dist=True)

    def on_validation_epoch_start(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._stop(pl_module)

    def on_train_epoch_end(self, trainer, pl_module):
        self._stop(pl_module)


class StopOnNonFiniteLoss(Callback):
    """Stops at the first NaN or infinite training loss, naming the step; checkpoints written so far stay."""

    def on_before_backward(self, trainer, pl_module, loss):
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(
                f"training loss is {float(loss)} at global step {trainer.global_step} (epoch {trainer.current_epoch}); "
                "lower model.lr or set trainer.gradient_clip_val. The checkpoints written before it are intact."
            )
