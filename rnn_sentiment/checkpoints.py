"""Rebuilding a LightningModule from a checkpoint file alone, with clear errors."""

from pathlib import Path

import torch

from rnn_sentiment.errors import UserInputError

ENTRY_POINTS = {"sentiment": "python -m rnn_sentiment.predict", "lm": "python -m lm.generate"}


def load_module(ckpt_path: str | None, module_class, task: str):
    if not ckpt_path:
        raise UserInputError("ckpt_path is not set; pass ckpt_path=<run dir>/checkpoints/last.ckpt")
    path = Path(ckpt_path).expanduser().resolve()
    if not path.is_file():
        raise UserInputError(f"ckpt_path={ckpt_path}: no such checkpoint file ({path})")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise UserInputError(
            f"ckpt_path={ckpt_path}: cannot be read as a checkpoint ({type(error).__name__}); "
            "the file is truncated or corrupt: use another one, e.g. checkpoints/last.ckpt of the run"
        ) from error
    preprocessing = checkpoint.get("preprocessing") if isinstance(checkpoint, dict) else None
    if not preprocessing or "hyper_parameters" not in checkpoint:
        raise UserInputError(f"ckpt_path={ckpt_path}: not an rnn-lightning checkpoint (no preprocessing inside)")
    found = preprocessing.get("task")
    if found != task:
        raise UserInputError(
            f"ckpt_path={ckpt_path}: is a {found} checkpoint, not a {task} one; use {ENTRY_POINTS.get(found)} with it"
        )
    module = module_class(**checkpoint["hyper_parameters"])
    module.load_state_dict(checkpoint["state_dict"])
    module.on_load_checkpoint(checkpoint)
    return module.eval()
