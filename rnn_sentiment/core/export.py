"""Writing a checkpoint as an exported folder (`core/hub.py`) with its model card
(`core/model_card.py`): `python -m rnn_sentiment.export`."""

import shutil
from pathlib import Path

from rnn_sentiment.core.checkpoints import existing_checkpoint, load_plain
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.hub import ExportedNetwork
from rnn_sentiment.core.model_card import model_card


def export_checkpoint(ckpt_path: str, out: str) -> Path:
    """Write the checkpoint at `ckpt_path` as an exported folder `out` (new, or empty), with its
    model card; written beside `out` and renamed into place, so a failure leaves no half folder."""
    if not ckpt_path or not out:
        raise UserInputError("give both: python -m rnn_sentiment.export ckpt_path=<run>/checkpoints/last.ckpt out=<folder>")
    path = existing_checkpoint(ckpt_path)
    checkpoint = load_plain(path)
    if not isinstance(checkpoint, dict) or "preprocessing" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise UserInputError(f"ckpt_path={ckpt_path}: not an rnn-lightning checkpoint (no preprocessing inside)")
    target = Path(out).expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserInputError(f"out={out}: already exists and is not an empty folder; give a new folder, or remove it")
    network = ExportedNetwork.of_checkpoint(checkpoint)
    network.card = model_card(checkpoint, path)
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        network.save_pretrained(partial)
        if target.exists():
            target.rmdir()
        partial.rename(target)
    except OSError as error:
        shutil.rmtree(partial, ignore_errors=True)
        raise UserInputError(f"out={out}: cannot be written ({error.strerror or error}); give another folder; "
                             "nothing was written") from None
    return target
