"""python -m rnn_sentiment.train model=conv_lstm [experiment=tutorial] [key=value ...]"""

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from rnn_sentiment.core.configs import CONFIG_PATH, check_task
from rnn_sentiment.core.errors import exit_on_user_error
from rnn_sentiment.core.files import write_text_atomically
from rnn_sentiment.core.option_types import check_command_line
from rnn_sentiment.core.training import train
from rnn_sentiment.pretrained_encoder import with_encoder_settings


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> float | None:
    """Train a classifier as `cfg` (`conf/train.yaml` and overrides) says; `encoder_ckpt` first
    sets the network's sizes and the tokenizer from the language model it names; the run's
    `.hydra/config.yaml` then shows the settings it trains with."""
    check_command_line(cfg)
    check_task(cfg, "rnn_sentiment.module.SentimentClassifier", "python -m rnn_sentiment.train")
    hydra_config = HydraConfig.get()
    if with_encoder_settings(cfg, list(hydra_config.overrides.task)) and hydra_config.output_subdir:
        saved = Path(hydra_config.runtime.output_dir) / hydra_config.output_subdir / "config.yaml"
        write_text_atomically(saved, OmegaConf.to_yaml(cfg))
    return train(cfg)


if __name__ == "__main__":
    main()
