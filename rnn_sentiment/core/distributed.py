"""DDP helpers: collectives over ranks whose shards differ in size (evaluation counts every example
once), and the process group's end."""

from contextlib import contextmanager

import torch
import torch.distributed as dist
from lightning import LightningModule


def gather_uneven(module: LightningModule, values: torch.Tensor) -> torch.Tensor:
    """Every rank's `values` (N, ...) (N may differ, 0 included), concatenated in rank order along N.

    `LightningModule.all_gather` needs equal shapes: gather the lengths first, pad each rank's
    values to the longest, gather, and trim the padding off again. Call it on every rank.
    """
    if module.trainer.world_size == 1:
        return values
    sizes = module.all_gather(torch.tensor(len(values), device=values.device)).tolist()  # (world,)
    padded = values.new_zeros(max(sizes), *values.shape[1:])
    padded[: len(values)] = values
    gathered = module.all_gather(padded)  # (world, max(sizes), ...)
    return torch.cat([row[:size] for row, size in zip(gathered, sizes)])


@contextmanager
def process_group_closed_at_end():
    """Destroys the DDP process group, if the block started one, when the block ends, on every rank.

    Lightning leaves the group open. A process that exits with it open can abort in Gloo's threads
    during interpreter shutdown ("terminate called without an active exception", exit -6), and
    Lightning then kills the sibling ranks of a run that had finished. After a block that ended
    normally the ranks first meet at a barrier, so none closes while another still talks to it.
    """
    try:
        yield
    except BaseException:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        raise
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
