"""python -m rnn_sentiment.train model=conv_lstm [experiment=tutorial] [key=value ...]"""

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from rnn_sentiment.configs import CONFIG_PATH
from rnn_sentiment.encoder import with_encoder_settings
from rnn_sentiment.errors import exit_on_user_error
from rnn_sentiment.training import train


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> float | None:
    with_encoder_settings(cfg, list(HydraConfig.get().overrides.task))
    return train(cfg)


if __name__ == "__main__":
    main()
