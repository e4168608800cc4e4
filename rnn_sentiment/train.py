"""python -m rnn_sentiment.train model=conv_lstm [experiment=tutorial] [key=value ...]"""

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rnn_sentiment.core.configs import CONFIG_PATH
from rnn_sentiment.core.errors import exit_on_user_error
from rnn_sentiment.core.training import train
from rnn_sentiment.encoder import with_encoder_settings


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> float | None:
    """Train a classifier as `cfg` (`conf/train.yaml` and overrides) says; `model.encoder_ckpt` first
    sets the network's sizes and the tokenizer from the language model it names."""
    with_encoder_settings(cfg, list(HydraConfig.get().overrides.task))
    return train(cfg)


if __name__ == "__main__":
    main()
