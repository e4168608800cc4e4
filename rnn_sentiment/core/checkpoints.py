"""Reading checkpoints without running code from them, and rebuilding a LightningModule from one.

Wherever a checkpoint is read for its network (predict, generate, `encoder_ckpt`, a tokenizer), an
exported folder or a Hub id of one (`core/hub.py`) does as well.

Every file the package reads back (checkpoints, the tokenized-data cache) goes through
`torch.load(weights_only=True)`: tensors, dicts, lists, tuples, strings, numbers and None only.
The package writes nothing else into them, so no extra type is allowed; a file that needs one
(a pickled object, whose loading could run any code) is refused before anything in it runs.
"""

import pickle
import re
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from rnn_sentiment.core.errors import UserInputError, cannot_write
from rnn_sentiment.core.files import open_atomically
from rnn_sentiment.core.hub import read_exported
from rnn_sentiment.core.preprocessing import Preprocessing
from rnn_sentiment.core.text import WordTokenizer

ENTRY_POINTS = {"sentiment": "python -m rnn_sentiment.predict", "lm": "python -m lm.generate"}
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


class UnsafeFileError(UserInputError):
    """The file holds an object that only a full unpickling (which can run code) could rebuild."""


class DamagedFileError(UserInputError):
    """The file is not a readable torch file: truncated, corrupt, or something else."""


def load_plain(path: Path, option: str = "ckpt_path") -> Any:
    """`torch.load(path, weights_only=True)` onto the CPU, with one-line errors naming the file
    as the `option` that gave it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        needs = found.group(1) if found else "objects beyond tensors, dicts, lists, strings and numbers"
        raise UnsafeFileError(
            f"{option}={path}: not a safe checkpoint: it needs {needs} to load, and loading such objects can run "
            "code, so it was refused and nothing in it ran; use a checkpoint written by rnn-lightning (checkpoints/*.ckpt of a "
            "run), or, if you trust its source, re-save its plain contents (tensors, dicts, strings, numbers)"
        ) from None
    except Exception as error:
        raise DamagedFileError(
            f"{option}={path}: cannot be read as a checkpoint ({type(error).__name__}); "
            "the file is truncated or corrupt: use another one, e.g. checkpoints/last.ckpt of the run"
        ) from None



def is_local_path(source: str) -> bool:
    """Whether `source` names something on this machine rather than a Hub id: it exists, looks
    like a path (`./…`, `/…`, `~…`, a `.ckpt` file) or its first folder exists here."""
    path = Path(source).expanduser()
    return (path.exists() or not HUB_ID.fullmatch(source) or source.endswith(".ckpt")
            or Path(source.split("/")[0]).is_dir())


def checkpoint_source(source: str, option: str) -> str:
    """`source` as an absolute path when it is a checkpoint file or an exported folder here, as
    given when it is a Hub id (`owner/name`); a one-line error naming `option` for a path that
    does not exist."""
    if not is_local_path(source):
        return source
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise UserInputError(f"{option}={source}: no such checkpoint file or exported folder ({path})")
    return str(path)


def read_checkpoint(source: str, option: str = "ckpt_path") -> Any:
    """The plain dict of a checkpoint file, an exported folder or a Hub id's exported network."""
    source = checkpoint_source(source, option)
    if Path(source).is_file():
        return load_plain(Path(source), option)
    return read_exported(source, option)


_SHARED: dict[tuple, Any] = {}  # the one checkpoint that several steps of this process read


def read_shared(source: str, option: str) -> Any:
    """`read_checkpoint` of a checkpoint that several steps of a run read (the pretrained encoder's:
    its sizes, its tokenizer, its weights): read once a process, and again only if its files changed."""
    source = checkpoint_source(source, option)
    local = Path(source)
    files = [local] if local.is_file() else sorted(local.iterdir()) if local.is_dir() else []
    key = (source, *((file.stat().st_mtime_ns, file.stat().st_size) for file in files))
    if key not in _SHARED:
        _SHARED.clear()
        _SHARED[key] = read_checkpoint(source, option)
    return _SHARED[key]


def tokenizer_of(path: str, option: str) -> WordTokenizer:
    """The tokenizer a checkpoint of either task carries (`option` names it in errors)."""
    checkpoint = read_shared(path, option)
    preprocessing = checkpoint.get("preprocessing") if isinstance(checkpoint, dict) else None
    if not preprocessing or "tokenizer" not in preprocessing:
        raise UserInputError(f"{option}={path}: not an rnn-lightning checkpoint (no tokenizer inside)")
    return Preprocessing.from_plain(preprocessing).tokenizer

class DurableCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, writing through `open_atomically`: a temporary file beside the
    checkpoint, fsynced, then renamed over it. A kill, a crash or a full disk mid-write leaves the
    previous file whole; a write that fails is one line naming the file."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError("storage_options are not supported by DurableCheckpointIO")
        try:
            with open_atomically(Path(path), binary=True) as file:
                torch.save(checkpoint, file)
        except OSError as error:
            raise cannot_write(f"the checkpoint {path}", error, "the checkpoints written before are intact") from None


def existing_checkpoint(ckpt_path: str, option: str = "ckpt_path") -> Path:
    """`ckpt_path` as an absolute path, or a `UserInputError` naming `option` when no such file exists."""
    path = Path(ckpt_path).expanduser().resolve()
    if not path.is_file():
        raise UserInputError(f"{option}={ckpt_path}: no such checkpoint file ({path})")
    return path


def load_module(ckpt_path: str | None, module_class, task: str):
    """The `task`'s LightningModule rebuilt from a checkpoint file (or an exported folder) alone, in eval mode."""
    if not ckpt_path:
        raise UserInputError("ckpt_path is not set; pass ckpt_path=<run dir>/checkpoints/last.ckpt")
    checkpoint = read_checkpoint(ckpt_path)
    preprocessing = checkpoint.get("preprocessing") if isinstance(checkpoint, dict) else None
    if not preprocessing or "hyper_parameters" not in checkpoint:
        raise UserInputError(f"ckpt_path={ckpt_path}: not an rnn-lightning checkpoint (no preprocessing inside)")
    found = preprocessing.get("task")
    if found != task:
        raise UserInputError(
            f"ckpt_path={ckpt_path}: is a {found} checkpoint, not a {task} one; use {ENTRY_POINTS.get(found)} with it"
        )
    hyper_parameters = dict(checkpoint["hyper_parameters"])
    if hyper_parameters.get("encoder_ckpt"):  # its weights are in this checkpoint: the encoder file is not read
        hyper_parameters["encoder_ckpt"] = None
    module = module_class.from_hyperparameters(hyper_parameters)
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:  # missing, unexpected or misshapen weights
        reason = str(error).splitlines()[1].strip() if "\n" in str(error) else str(error)
        raise UserInputError(
            f"ckpt_path={ckpt_path}: its weights do not fit its network settings ({reason}); "
            "export it again from its checkpoint, or use the checkpoint itself"
        ) from None
    module.on_load_checkpoint(checkpoint)
    return module.eval()
