"""python -m lm.train [experiment=lm_tutorial] [key=value ...]"""

import hydra
from omegaconf import DictConfig

from rnn_sentiment.core.configs import CONFIG_PATH, check_task
from rnn_sentiment.core.errors import exit_on_user_error
from rnn_sentiment.core.option_types import check_command_line
from rnn_sentiment.core.training import train


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="lm")
@exit_on_user_error
def main(cfg: DictConfig) -> float | None:
    """Train the language model as `cfg` (`conf/lm.yaml` and overrides) says."""
    check_command_line(cfg)
    check_task(cfg, "lm.module.LanguageModel", "python -m lm.train")
    return train(cfg)


if __name__ == "__main__":
    main()
