"""python -m rnn_sentiment.export ckpt_path=<run>/checkpoints/last.ckpt out=<folder>

Writes a checkpoint of either task (a classifier's or a language model's) as a Hugging Face Hub
folder: model.safetensors, config.json, tokenizer.json and a README.md model card. The folder, or
its Hub id once uploaded (`hf upload <owner>/<name> <folder>`), goes wherever a checkpoint goes:
`ckpt_path=` of predict and generate, `encoder_ckpt=` of training.
"""

import hydra
from omegaconf import DictConfig

from rnn_sentiment.core.configs import CONFIG_PATH
from rnn_sentiment.core.errors import exit_on_user_error
from rnn_sentiment.core.export import export_checkpoint
from rnn_sentiment.core.option_types import check_command_line


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="export")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """Export the checkpoint and print the folder's files."""
    check_command_line(cfg)
    folder = export_checkpoint(cfg.ckpt_path, cfg.out)
    print(f"exported to {folder}: {', '.join(sorted(path.name for path in folder.iterdir()))}")


if __name__ == "__main__":
    main()
