"""Trained networks as Hugging Face Hub folders, which load from a path or a Hub id.

An exported folder holds what a checkpoint holds for inference and fine-tuning, without the
training state (optimizer, loops, callbacks):

- `model.safetensors`: the module's weights (tensors only: reading it runs no code);
- `config.json`: the module's hyperparameters and its preprocessing (task, layout, class names);
- `tokenizer.json`: the fitted tokenizer in the `tokenizers` library's own format;
- `README.md`: the model card (`core/model_card.py`).

`huggingface_hub.ModelHubMixin` writes the config and the card and resolves a Hub id through its
cache (`HF_HUB_OFFLINE=1` reads the cache only). Readers get a folder back as the same plain dict
a `.ckpt` file holds (`read_exported`), so everything that reads checkpoints reads folders.
"""

from pathlib import Path

import torch
from huggingface_hub import ModelCard, ModelHubMixin, hf_hub_download
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import EntryNotFoundError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.sources import one_line

FORMAT = "rnn-lightning"
FORMAT_VERSION = 1
CONFIG, WEIGHTS, TOKENIZER = "config.json", "model.safetensors", "tokenizer.json"


class ExportedNetwork(ModelHubMixin, library_name="rnn-lightning", tags=["pytorch", "lstm", "rnn-lightning"]):
    """A module's weights, hyperparameters, preprocessing and tokenizer, as a Hub folder.

    `config`: `{"format", "format_version", "hyper_parameters", "preprocessing" (without the
    tokenizer), "tied"}`; `tied` maps each weight stored once to the names that share it
    (safetensors keeps no shared tensors: `model.net.tie_weights`).
    """

    def __init__(self, config: dict):
        self.config = config
        self.weights: dict[str, torch.Tensor] = {}
        self.tokenizer_json = ""
        self.card: ModelCard | None = None

    @classmethod
    def of_checkpoint(cls, checkpoint: dict) -> "ExportedNetwork":
        """The inference part of a checkpoint's plain dict (as `load_plain` returns it)."""
        preprocessing = dict(checkpoint["preprocessing"])
        tokenizer_json = preprocessing.pop("tokenizer")
        hyper_parameters = dict(checkpoint["hyper_parameters"])
        if hyper_parameters.get("encoder_ckpt"):  # its weights are among these: the file is not needed
            hyper_parameters["encoder_ckpt"] = None
        weights, tied = {}, {}
        seen: dict[int, str] = {}
        for name, tensor in checkpoint["state_dict"].items():
            pointer = tensor.untyped_storage().data_ptr() + tensor.storage_offset() * tensor.element_size()
            if pointer in seen:
                tied.setdefault(seen[pointer], []).append(name)
            else:
                seen[pointer] = name
                weights[name] = tensor.detach().contiguous()
        network = cls(config={"format": FORMAT, "format_version": FORMAT_VERSION, "hyper_parameters": hyper_parameters,
                              "preprocessing": preprocessing, "tied": tied})
        network.weights, network.tokenizer_json = weights, tokenizer_json
        return network

    def as_checkpoint(self) -> dict:
        """The plain dict a checkpoint file holds: `hyper_parameters`, `state_dict`, `preprocessing`."""
        state_dict = dict(self.weights)
        for name, sharers in self.config.get("tied", {}).items():
            for sharer in sharers:
                state_dict[sharer] = state_dict[name]
        return {"hyper_parameters": self.config["hyper_parameters"], "state_dict": state_dict,
                "preprocessing": {**self.config["preprocessing"], "tokenizer": self.tokenizer_json}}

    def generate_model_card(self, *args, **kwargs) -> ModelCard:
        return self.card if self.card is not None else super().generate_model_card(*args, **kwargs)

    def _save_pretrained(self, save_directory: Path) -> None:
        save_file(self.weights, str(save_directory / WEIGHTS), metadata={"format": "pt"})
        (save_directory / TOKENIZER).write_text(self.tokenizer_json, encoding="utf-8")

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision, cache_dir, force_download, local_files_only, token,
                         config: dict | None = None) -> "ExportedNetwork":
        if config is None:  # the mixin passes over a config it could not download: ask again, to raise why
            hf_hub_download(model_id, CONFIG, revision=revision, cache_dir=cache_dir, force_download=force_download,
                            local_files_only=local_files_only, token=token)
            raise UserInputError(f"{model_id}: has no readable {CONFIG}")
        files = {}
        for name in (WEIGHTS, TOKENIZER):
            local = Path(model_id) / name
            files[name] = local if local.is_file() else Path(hf_hub_download(
                model_id, name, revision=revision, cache_dir=cache_dir, force_download=force_download,
                local_files_only=local_files_only, token=token))
        network = cls(config=config)
        network.weights = load_file(files[WEIGHTS])
        network.tokenizer_json = files[TOKENIZER].read_text(encoding="utf-8")
        return network


def read_exported(source: str, option: str) -> dict:
    """The checkpoint dict of an exported folder (a path) or of a Hub id (downloaded once into the
    Hub cache); one-line errors naming `option` for a folder that is incomplete, damaged, of
    another format, or a Hub id that cannot be had."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        missing = [name for name in (CONFIG, WEIGHTS, TOKENIZER) if not (folder / name).is_file()]
        if missing:
            raise UserInputError(
                f"{option}={source}: not an exported network (no {', '.join(missing)} in the folder); "
                "give a checkpoint file or a folder written by python -m rnn_sentiment.export"
            )
    try:
        network = ExportedNetwork.from_pretrained(str(folder) if folder.is_dir() else source)
    except UserInputError as error:
        raise UserInputError(f"{option}={error}") from None
    except (SafetensorError, UnicodeDecodeError, ValueError) as error:
        if folder.is_dir():
            raise UserInputError(
                f"{option}={source}: a file of the folder cannot be read ({one_line(error)}); export it again"
            ) from None
        raise UserInputError(f"{option}={source}: is not a Hub id (owner/name) of an exported network ({one_line(error)})"
                             ) from None
    except (OSError, EntryNotFoundError) as error:
        offline = "HF_HUB_OFFLINE is set and it is not in the local Hub cache; " if hub_constants.is_offline_mode() else ""
        raise UserInputError(
            f"{option}={source}: no such file or folder here, and the Hub model {source} cannot be had "
            f"({offline}{type(error).__name__}); check the path, or download it once online "
            f"(hf download {source})"
        ) from None
    _check_format(network.config, source, option)
    return network.as_checkpoint()


def _check_format(config: dict, source: str, option: str) -> None:
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise UserInputError(f"{option}={source}: {CONFIG} is not an rnn-lightning network's (no \"format\": \"{FORMAT}\")")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise UserInputError(
            f"{option}={source}: written in export format {config['format_version']}, newer than this package "
            f"reads ({FORMAT_VERSION}); upgrade rnn-lightning"
        )
    for key in ("hyper_parameters", "preprocessing"):
        if not isinstance(config.get(key), dict):
            raise UserInputError(f"{option}={source}: {CONFIG} has no \"{key}\"; export it again")

