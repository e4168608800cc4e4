"""Collectives over DDP ranks whose shards differ in size (evaluation counts every example once)."""

import torch
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
