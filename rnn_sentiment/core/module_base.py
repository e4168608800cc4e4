"""What the LightningModules of both tasks share: the network built from its own config
(`model.net`), the preprocessing kept in every checkpoint, the parameter count, and Adam."""

import inspect

import torch
from lightning import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import nn

from rnn_sentiment.core.parameters import parameter_count
from rnn_sentiment.core.preprocessing import Preprocessing
from rnn_sentiment.core.text import WordTokenizer

FUSED_ADAM_DEVICES = ("cpu", "cuda", "mps", "xpu")  # where torch.optim.Adam(fused=True) has kernels


def plain(config: dict | DictConfig) -> dict:
    """A Hydra node as plain dicts and lists: checkpoints are read back with `weights_only=True`,
    which refuses OmegaConf's classes."""
    if isinstance(config, (DictConfig, ListConfig)):
        return OmegaConf.to_container(config, resolve=True)
    return dict(config)


class TextModule(LightningModule):
    """Base of the task modules.

    A subclass names its network class in `network`, and in its `__init__(vocab_size, net, ...)`
    passes `net` through `plain`, calls `save_hyperparameters()`, then builds
    `self.net = self.network(vocab_size, **net)`: the network's settings live once, in `model.net`,
    and travel in every checkpoint's hyperparameters. `network_name` labels the parameter count.
    """

    network: type[nn.Module]
    network_name: str

    def __init__(self) -> None:
        super().__init__()
        self.preprocessing: Preprocessing | None = None

    @classmethod
    def from_hyperparameters(cls, hyper_parameters: dict) -> "TextModule":
        """The module rebuilt from a checkpoint's hyperparameters. Checkpoints written before
        `model.net` existed hold the network's settings beside the module's: they are regrouped."""
        hp = dict(hyper_parameters)
        if "net" not in hp:
            names = set(inspect.signature(cls.network).parameters) - {"vocab_size", "num_classes"}
            hp["net"] = {name: hp.pop(name) for name in list(hp) if name in names}
        return cls(**hp)

    @property
    def tokenizer(self) -> WordTokenizer | None:
        return self.preprocessing.tokenizer if self.preprocessing is not None else None

    def set_preprocessing(self, preprocessing: Preprocessing) -> None:
        """The tokenizer (and, for the classifier, layout and class names); saved in every checkpoint so it runs alone."""
        self.preprocessing = preprocessing

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["preprocessing"] = self.preprocessing.to_plain()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.set_preprocessing(Preprocessing.from_plain(checkpoint["preprocessing"]))

    def on_fit_start(self) -> None:
        rank_zero_info(f"{self.network_name}: {parameter_count(self.net)}")

    def adam(self, params, lr: float, weight_decay: float, eps: float = 1e-8) -> torch.optim.Adam:
        """`torch.optim.Adam`, fused into one kernel on the devices that have it, in full precision:
        under a `*-mixed` precision Lightning refuses gradient clipping with a fused optimizer."""
        mixed = self._trainer is not None and str(self.trainer.precision).endswith("-mixed")
        return torch.optim.Adam(params, lr=lr, eps=eps, weight_decay=weight_decay,
                                fused=self.device.type in FUSED_ADAM_DEVICES and not mixed)
