"""What every training entry point does: compose, fit, test, write metrics.json."""

import math
import re
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from rnn_sentiment.core.allocator import keep_freed_memory
from rnn_sentiment.core.callbacks import EpochTimer, LastValidation
from rnn_sentiment.core.checkpoints import DamagedFileError, DurableCheckpointIO, existing_checkpoint, load_plain
from rnn_sentiment.core.distributed import process_group_closed_at_end
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.files import write_json_atomically
from rnn_sentiment.core.hydra_ddp import one_job_of_the_sweep
from rnn_sentiment.core.noise import quiet_known_noise
from rnn_sentiment.core.run_lock import run_dir_lock
from rnn_sentiment.core.run_log import RUN, interactive, run_log, say


LIGHTNING_REFUSALS = (MisconfigurationException, ValueError, TypeError)


def instantiate_config(config, **kwargs):
    """`hydra.utils.instantiate`, letting a `UserInputError` through unwrapped; Lightning's refusal of
    a Trainer argument (`trainer.accelerator=abc`) and an unknown keyword become one-line errors."""
    try:
        return instantiate(config, **kwargs)
    except InstantiationException as error:
        cause = error.__cause__
        while cause is not None and not isinstance(cause, UserInputError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        if str(config.get("_target_", "")).endswith(".Trainer") and isinstance(error.__cause__, LIGHTNING_REFUSALS):
            reason = (str(error.__cause__).strip().splitlines() or [""])[0]
            raise UserInputError(f"trainer: {reason} (set by the trainer.* options; --cfg job shows them)") from None
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(error))
        if unknown:
            raise UserInputError(
                f"{config._get_full_key(None) or 'the config'}.{unknown.group(1)} is not an option of "
                f"{config.get('_target_')}; remove it (a preset of the other entry point, experiment=… say, may "
                "have set it)"
            ) from None
        raise


def _flat_hparams(cfg: DictConfig) -> dict:
    resolved = OmegaConf.to_container(cfg, resolve=True)
    picked = {key: resolved.get(key) for key in ("model", "data", "trainer", "seed")}
    flat = {}

    def walk(prefix, node):
        if isinstance(node, dict):
            for key, value in node.items():
                if not str(key).startswith("_"):
                    walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif node is not None:  # unset options (most Trainer arguments) would crowd the HPARAMS tab
            flat[prefix] = node if isinstance(node, (int, float, str, bool)) else str(node)

    walk("", picked)
    return flat


def _overrides() -> list[str]:
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return []


def _package_version() -> str:
    """The installed version; a checkout run without installing (PYTHONPATH=.) has no metadata."""
    try:
        return version("rnn-lightning")
    except PackageNotFoundError:
        return "not installed"


@rank_zero_only
def _record_run(output_dir: Path, datamodule) -> None:
    """What the run depends on besides its config (which Hydra saves in .hydra/)."""
    import lightning

    info = {
        "package_version": _package_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "data": datamodule.cache_key(),
        "overrides": _overrides(),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(output_dir / "run_info.json", info)


def build_loggers(cfg: DictConfig) -> list[Logger]:
    """Every logger of the `logger` group (`logger=[tensorboard,csv]`); none with `~logger`."""
    return [instantiate(c) for c in cfg.logger.values() if c is not None] if cfg.get("logger") else []


def _log_hyperparams(trainer: L.Trainer, hparams: dict) -> None:
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):  # registers hp_metric, so the HPARAMS tab shows it
            logger.log_hyperparams(hparams, {"hp_metric": float("nan")})
        else:
            logger.log_hyperparams(hparams)


@contextmanager
def finishing_wandb_run(loggers: list[Logger]):
    """W&B keeps its run open until the process ends, so the next job of a sweep would log into it."""
    try:
        yield
    finally:
        if any(isinstance(logger, WandbLogger) for logger in loggers):
            import wandb

            wandb.finish()


@rank_zero_only
def _report(output_dir: Path, metrics: dict, trainer: L.Trainer, headline: str) -> None:
    write_json_atomically(output_dir / "metrics.json", metrics)
    if headline in metrics:
        for logger in trainer.loggers:
            logger.log_metrics({"hp_metric": metrics[headline]}, step=trainer.global_step)
            logger.save()
    say(f"\nrun directory: {output_dir}")
    for key, value in metrics.items():
        if isinstance(value, float):
            say(f"  {key:24s} {value:.4f}")


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """`last`: the newest readable checkpoint of this run directory (epoch end or periodic); a newer
    one that cannot be read (cut short by a kill, say) is passed over with a note. An unsafe file is
    refused here, before the run starts, with nothing in it run."""
    if ckpt_path is None:
        return None
    if ckpt_path != "last":
        path = existing_checkpoint(ckpt_path)
        load_plain(path)
        return str(path)
    saved = sorted((output_dir / "checkpoints").glob("*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
    if not saved:
        raise UserInputError(
            f"ckpt_path=last: no checkpoint in {output_dir / 'checkpoints'}; resume in the run's directory "
            "with hydra.run.dir=<run directory> ckpt_path=last"
        )
    for path in saved:
        try:
            load_plain(path)
        except DamagedFileError:
            say(f"note: ckpt_path=last: {path} cannot be read (truncated or corrupt); passing over it", error=True)
            continue
        return str(path)
    raise UserInputError(f"ckpt_path=last: no checkpoint in {output_dir / 'checkpoints'} can be read; start afresh")


def train(cfg: DictConfig) -> float | None:
    """Fit, test, write `metrics.json`; returns `cfg.optimized_metric` for sweepers. The run's
    `train.log` records it (`core/run_log.py`); no other process may use its directory meanwhile
    (`core/run_lock.py`)."""
    output_dir = Path(cfg.paths.output_dir)
    with run_dir_lock(output_dir), run_log(output_dir):
        RUN.info("overrides: %s", " ".join(_overrides()) or "(none)")
        return _train(cfg, output_dir)


def _train(cfg: DictConfig, output_dir: Path) -> float | None:
    quiet_known_noise()
    torch.set_float32_matmul_precision("high")
    if keep_freed_memory():
        RUN.info("allocator: glibc keeps freed memory for reuse "
                 "(MALLOC_*, GLIBC_TUNABLES or LD_PRELOAD leave it as set)")
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir)

    datamodule = instantiate_config(cfg.data)
    datamodule.setup("fit")  # the network needs the fitted vocabulary's size (and the classes)
    _record_run(output_dir, datamodule)
    module = instantiate_config(cfg.model, **datamodule.network_arguments())
    module.set_preprocessing(datamodule.preprocessing())

    timer, last_validation = EpochTimer(), LastValidation()
    loggers = build_loggers(cfg)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None] + [timer, last_validation]
    if not loggers:  # nothing to monitor the learning rate into
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    bars = {}
    if not interactive():  # a bar redrawn in a file shows only at the end: PlainProgress prints lines instead
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
        bars = {"enable_progress_bar": False}
    with one_job_of_the_sweep(), process_group_closed_at_end(), finishing_wandb_run(loggers):
        given = instantiate_config(cfg.trainer.get("plugins")) or []
        plugins = list(given) if isinstance(given, (list, tuple)) else [given]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            plugins.append(DurableCheckpointIO())
        trainer: L.Trainer = instantiate_config(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                                                plugins=plugins, **bars)
        _log_hyperparams(trainer, _flat_hparams(cfg))

        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        epoch_seconds = list(timer.seconds)  # before trainer.test(ckpt_path=best) restores the timer's older state

        checkpoint = next((c for c in trainer.callbacks if isinstance(c, ModelCheckpoint) and c.monitor), None)
        metrics = dict(last_validation.metrics)
        if checkpoint is not None and checkpoint.best_model_score is not None:
            metrics[f"best/{checkpoint.monitor}"] = float(checkpoint.best_model_score)
        if cfg.get("test"):
            use_best = cfg.test_ckpt == "best" and checkpoint is not None and checkpoint.best_model_path
            if cfg.test_ckpt == "best" and not use_best:
                say(f"note: test_ckpt=best, but no checkpoint was chosen on {cfg.get('monitor')} (no validation "
                    "ran, or no checkpoint callback monitors it); testing the final weights", error=True)
            trainer.test(module, datamodule=datamodule, ckpt_path=checkpoint.best_model_path if use_best else None,
                         weights_only=True)
            metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        metrics["epochs"] = trainer.current_epoch
        metrics["global_step"] = trainer.global_step
        if epoch_seconds:
            metrics["train_epoch_seconds"] = [round(s, 2) for s in epoch_seconds]
        metrics["overrides"] = _overrides()
        _report(output_dir, metrics, trainer, cfg.headline_metric)

    name = cfg.get("optimized_metric") or ""
    value = metrics.get(f"best/{name}", metrics.get(name, float("nan")))
    return value if math.isfinite(value) else None
