"""conf/trainer/default.yaml lists every lightning.Trainer argument, so `trainer.<name>=…` always works."""

import inspect

import lightning
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import ROOT, compose_config

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
