"""Starting the classifier from a pretrained language model (`encoder_ckpt=`).

The language model's embedding and LSTM layers become the classifier's; its tokenizer becomes the
classifier's (`data.tokenizer_from`), so both read the same ids. With `model.net.normalize_embeddings`
(adversarial training) the first LSTM layer is adapted to read standardized vectors, once, at the
first fit's start (when the word counts are known), so that fine-tuning starts from the function the
language model learnt. The classifier's cell and sizes
follow the checkpoint: a `model=` preset's own sizes give way, and a size set on the command line
that differs from the checkpoint's is an error.
"""

import logging
import re

import torch
import yaml
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationResolutionError, InterpolationToMissingValueError, MissingMandatoryValue
from torch import nn

from rnn_sentiment.core.checkpoints import read_shared
from rnn_sentiment.core.errors import UserInputError

log = logging.getLogger(__name__)
NETWORK_SIZES = ("vocab_size", "embed_dim", "hidden_size", "num_layers")


def read_language_model(path: str) -> dict:
    """The checkpoint of an rnn-lightning language model, read without running code from it (once a
    process: the settings, the tokenizer and the weights come from one read)."""
    checkpoint = read_shared(path, "encoder_ckpt")
    preprocessing = checkpoint.get("preprocessing") if isinstance(checkpoint, dict) else None
    if not preprocessing or preprocessing.get("task") != "lm" or "hyper_parameters" not in checkpoint:
        found = f"a {preprocessing.get('task')}" if preprocessing else "not an rnn-lightning"
        raise UserInputError(
            f"encoder_ckpt={path}: is {found} checkpoint, not a language model's; use a checkpoint of "
            "python -m lm.train (e.g. experiment=lm_imdb), checkpoints/last.ckpt of its run"
        )
    return checkpoint


def network_sizes(checkpoint: dict) -> dict:
    """The language model's vocabulary, embedding, hidden and layer sizes, from its hyperparameters
    (under `net`, or beside the module's in checkpoints written before `model.net`)."""
    hp = checkpoint["hyper_parameters"]
    net = hp.get("net", hp)
    return {"vocab_size": hp["vocab_size"], **{size: net[size] for size in NETWORK_SIZES[1:]}}


def encoder_settings(checkpoint: dict) -> dict:
    """The classifier settings that the language model fixes, as `dotted.key: value`."""
    hp = network_sizes(checkpoint)
    return {
        "model.net.cell": "lstm",
        "model.net.embed_dim": hp["embed_dim"],
        "model.net.hidden_size": hp["hidden_size"],
        "model.net.num_layers": hp["num_layers"],
        "model.net.bidirectional": False,
        "model.net.conv_channels": 0,
        "data.num_words": hp["vocab_size"],
    }


def required(value):
    """`${required:${encoder_ckpt}}` (experiment=imdb_pretrained): the checkpoint, which that preset
    cannot do without (an error where it is null)."""
    if value is None:
        raise MissingMandatoryValue("a required value is not set")
    return value


OmegaConf.register_new_resolver("required", required, replace=True)


def with_encoder_settings(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """Give `cfg` the cell, sizes and tokenizer of `cfg.model.encoder_ckpt` (the top-level
    `encoder_ckpt`, unless `+ablation=no_pretraining` cut the link; nothing when unset);
    returns the `key=value`s it changed.

    `overrides` are the command line's `key=value`s: one that sets a fixed setting to another
    value is a one-line error, since the pretrained weights could not fit it.
    """
    try:
        path = cfg.model.get("encoder_ckpt")
    except (MissingMandatoryValue, InterpolationToMissingValueError, InterpolationResolutionError):
        raise UserInputError(
            "encoder_ckpt is required by this experiment; set it to a language model's checkpoint, "
            "e.g. encoder_ckpt=<run of python -m lm.train experiment=lm_imdb>/checkpoints/last.ckpt"
        ) from None
    if not path:
        return []
    checkpoint = read_language_model(path)
    given = {}
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        given[key] = value
    settings = {**encoder_settings(checkpoint), "data.tokenizer_from": path}
    for key, value in settings.items():
        if key in given and yaml.safe_load(given[key]) != value:
            raise UserInputError(
                f"{key}={given[key]} conflicts with encoder_ckpt={path}, whose language model has "
                f"{key.split('.')[-1]}={value}; drop {key} (the checkpoint sets it) or use another checkpoint"
            )
    changed = []
    with open_dict(cfg):
        for key, value in settings.items():
            if OmegaConf.select(cfg, key) != value:
                changed.append(f"{key}={value}")
                OmegaConf.update(cfg, key, value)
        if OmegaConf.is_interpolation(cfg.model, "encoder_ckpt"):  # the run's saved config: the path, readable
            cfg.model.encoder_ckpt = path                           # without this package's `${required:…}`
            changed.append(f"model.encoder_ckpt={path}")
    log.info("encoder_ckpt=%s sets %s", path, " ".join(changed) or "nothing new")
    return changed


@torch.no_grad()
def load_encoder(net: nn.Module, path: str) -> None:
    """Copy the language model's embedding and LSTM layers into the classifier `net`
    (a `RecurrentClassifier` with a unidirectional LSTM and no convolution, of the same sizes).
    The padding row stays zero where the embedding fixes it (`padding_idx`); with
    `keras_padding_embedding` it takes the language model's (untrained) row 0."""
    checkpoint = read_language_model(path)
    hp = network_sizes(checkpoint)
    if net.cell != "lstm" or net.directions != 1 or net.conv is not None:
        raise UserInputError(
            f"encoder_ckpt={path}: the language model is a unidirectional LSTM without convolution; "
            "set model.net.cell=lstm model.net.bidirectional=false model.net.conv_channels=0"
        )
    ours = {"vocab_size": net.embedding.num_embeddings, "embed_dim": net.embedding.embedding_dim,
            "hidden_size": net.hidden_size, "num_layers": net.num_layers}
    for size in NETWORK_SIZES:
        if ours[size] != hp[size]:
            fix = ("leave data.num_words unset, so the tokenizer comes from the checkpoint" if size == "vocab_size"
                   else f"set model.net.{size}={hp[size]} or leave it unset")
            raise UserInputError(
                f"encoder_ckpt={path}: its {size} is {hp[size]}, the classifier's {ours[size]}; {fix}"
            )
    copied = 0
    for key, value in checkpoint["state_dict"].items():
        # `net.layers.1.weight_hh_l0`, or `net.lstm.weight_hh_l1` in checkpoints of one multi-layer LSTM
        found = re.fullmatch(r"net\.(?:layers\.(\d+)\.(\w+)_l0|lstm\.(\w+)_l(\d+))", key)
        if found:
            depth, name = (found[1], found[2]) if found[1] is not None else (found[4], found[3])
            _copy(getattr(net.rnn, f"{name}_l{depth}"), value, key, path)
            copied += 1
    for depth in range(net.num_layers):
        bias_hh = getattr(net.rnn, f"bias_hh_l{depth}")
        if not bias_hh.requires_grad:  # single_bias: one trained bias per gate, the sum of the two
            getattr(net.rnn, f"bias_ih_l{depth}").add_(bias_hh)
            bias_hh.zero_()
    _copy(net.embedding.weight, checkpoint["state_dict"]["net.embedding.weight"], "net.embedding.weight", path)
    if net.embedding.padding_idx is not None:
        net.embedding.weight[net.embedding.padding_idx].zero_()
    if copied != 4 * net.num_layers:
        raise UserInputError(f"encoder_ckpt={path}: holds {copied} LSTM tensors, not {4 * net.num_layers}")


@torch.no_grad()
def read_standardized_embeddings(net: nn.Module) -> None:
    """Let the first LSTM layer of `net` (a `RecurrentClassifier` with `normalize_embeddings`, loaded
    by `load_encoder` from a language model that read its embeddings as they are) read the standardized
    vectors (x - mean) / deviation and compute what it computed on x: its input weights are scaled by
    the deviation and its bias shifted by the weights times the mean. Once, after `word_counts` is set."""
    mean, deviation = net.embedding_statistics()
    weight = net.rnn.weight_ih_l0
    net.rnn.bias_ih_l0.add_(weight @ mean)
    weight.mul_(deviation)


def _copy(target: torch.Tensor, value: torch.Tensor, name: str, path: str) -> None:
    """`target.copy_(value)`, or a one-line error when the stored weight has another shape (an
    exported folder whose config.json does not match its weights)."""
    if value.shape != target.shape:
        raise UserInputError(
            f"encoder_ckpt={path}: its weight {name} has shape {tuple(value.shape)}, but its settings make "
            f"{tuple(target.shape)}; its config does not match its weights: export it again from its checkpoint"
        )
    target.copy_(value)
