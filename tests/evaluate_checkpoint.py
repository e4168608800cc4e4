"""Validates and tests one checkpoint under a composed config; the DDP tests run it with 1 and 2 processes.

    python -m evaluate_checkpoint <train|lm> <checkpoint> <output dir> [override ...]

Writes <output dir>/metrics.json (what `trainer.validate` and `trainer.test` return) on rank 0, and
TensorBoard events under <output dir>/tensorboard. Lightning starts the other ranks by re-running
this command line, so it must be a module, not `python -c`.
"""

import json
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger

from rnn_sentiment.core.noise import quiet_known_noise
from rnn_sentiment.core.training import instantiate_config

ROOT = Path(__file__).resolve().parents[1]


def evaluate(primary: str, checkpoint: str, output: Path, overrides: list[str]) -> None:
    quiet_known_noise()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(primary, overrides=[f"paths.output_dir={output}", f"paths.log_dir={output}", *overrides])
    datamodule = instantiate_config(cfg.data)
    datamodule.setup("fit")
    module = instantiate_config(cfg.model, **datamodule.network_arguments())
    logger = TensorBoardLogger(output, name="tensorboard", version="")
    trainer = instantiate(cfg.trainer, logger=logger, callbacks=[], enable_checkpointing=False,
                          enable_progress_bar=False, enable_model_summary=False)
    (metrics,) = trainer.validate(module, datamodule=datamodule, ckpt_path=checkpoint)
    (tested,) = trainer.test(module, datamodule=datamodule, ckpt_path=checkpoint)
    metrics.update(tested, world_size=trainer.world_size)
    if trainer.is_global_zero:
        (output / "metrics.json").write_text(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    primary, checkpoint, output, *overrides = sys.argv[1:]
    evaluate(primary, checkpoint, Path(output), overrides)
