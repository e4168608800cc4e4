"""python -m rnn_sentiment.plot run_dir=<run or sweep directory> — PNG learning curves and a sweep chart.

Works on the runs of either task (classifier accuracy, language-model perplexity)."""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from rnn_sentiment.core.configs import CONFIG_PATH
from rnn_sentiment.core.errors import UserInputError, exit_on_user_error
from rnn_sentiment.core.option_types import check_command_line
from rnn_sentiment.core.plots import plot_run, plot_sweep


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="plot")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """Learning curves of every run under `run_dir` and, for a sweep, the runs side by side."""
    check_command_line(cfg)
    if not cfg.run_dir:
        raise UserInputError("run_dir is not set; pass run_dir=<run directory or sweep directory>")
    root = Path(cfg.run_dir).expanduser().resolve()
    if not root.is_dir():
        raise UserInputError(f"run_dir={cfg.run_dir}: no such directory")
    runs = sorted({p.parent for p in root.glob("*/metrics.json")})
    written = [plot_run(run) for run in runs] + [plot_sweep(root, runs)] if runs else [plot_run(root)]
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
