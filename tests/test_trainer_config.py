"""conf/trainer/default.yaml lists every lightning.Trainer argument, so `trainer.<name>=…` always works."""

import inspect
import json
import math

import lightning
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import QUICK_TRAINING, ROOT, compose_config
from helpers import RecordGradientNorms
from rnn_sentiment.core.training import train

FROM_OTHER_GROUPS = {"self", "logger", "callbacks"}
# the project's choices; every other key must hold Lightning's own default
PROJECT_CHOICES = {"accelerator", "devices", "precision", "max_epochs", "num_sanity_val_steps", "log_every_n_steps",
                   "enable_progress_bar", "deterministic", "use_distributed_sampler", "default_root_dir"}


def trainer_defaults() -> dict:
    parameters = inspect.signature(lightning.Trainer.__init__).parameters
    return {name: parameter.default for name, parameter in parameters.items() if name not in FROM_OTHER_GROUPS}


def test_default_yaml_lists_every_trainer_argument_with_lightnings_default():
    listed = OmegaConf.to_container(OmegaConf.load(ROOT / "conf/trainer/default.yaml"))
    listed.pop("_target_")
    defaults = trainer_defaults()
    assert sorted(listed) == sorted(defaults), "conf/trainer/default.yaml and lightning.Trainer's arguments differ"
    assert {key: value for key, value in listed.items() if key not in PROJECT_CHOICES} == {
        key: value for key, value in defaults.items() if key not in PROJECT_CHOICES}


def test_any_trainer_argument_can_be_set_without_a_plus(tmp_path):
    cfg = compose_config("train", tmp_path, ["trainer.max_steps=5", "trainer.val_check_interval=0.5",
                                             "trainer.accumulate_grad_batches=2", "trainer=ddp_cpu"])
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert (trainer.max_steps, trainer.val_check_interval, trainer.accumulate_grad_batches) == (5, 0.5, 2)
    assert trainer.num_devices == 2 and not trainer._accelerator_connector.use_distributed_sampler


@pytest.mark.parametrize("config", ["train", "lm"])
def test_mixed_precision_with_gradient_clipping_bounds_the_gradient_norm(config, tmp_path, imdb_dir, moby_file):
    # a fused Adam would be refused here: Lightning does not clip an optimizer that unscales its own gradients
    data = imdb_dir if config == "train" else moby_file
    cfg = compose_config(config, tmp_path, [
        f"data.path={data}", f"paths.cache_dir={tmp_path / 'cache'}", "data.batch_size=16", "model.net.hidden_size=8",
        "model.net.embed_dim=8", *QUICK_TRAINING, "trainer.max_epochs=1", "trainer.precision=bf16-mixed",
        "trainer.gradient_clip_val=0.25", "~logger", "test=false",
        "+callbacks.grads._target_=helpers.RecordGradientNorms", "model.lr=0.05",
    ])
    train(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert math.isfinite(metrics["val/loss"])
    norms = RecordGradientNorms.norms
    assert len(norms) >= 5 and any(before > 0.25 for before, _ in norms)  # clipping had work to do
    for before, after in norms:
        assert after == pytest.approx(min(before, 0.25), rel=1e-3)
