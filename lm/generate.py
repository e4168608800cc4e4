"""python -m lm.generate ckpt_path=… seed_text=ship n_words=50 temperature=1.0 [top_k=…] [top_p=…]"""

import sys

import hydra
import torch
from omegaconf import DictConfig

from lm.module import LanguageModel
from lm.sampling import check_sampling_options, generate
from rnn_sentiment.core.checkpoints import load_module
from rnn_sentiment.core.configs import CONFIG_PATH
from rnn_sentiment.core.errors import exit_on_user_error
from rnn_sentiment.core.option_types import check_command_line
from rnn_sentiment.core.text import UNK_ID


def continuations(module: LanguageModel, cfg: DictConfig) -> list[str]:
    """`cfg.num_samples` texts: the seed words and `cfg.n_words` sampled after them."""
    tokenizer = module.tokenizer
    seed_words = tokenizer.words("" if cfg.seed_text is None else str(cfg.seed_text))
    seed_ids = tokenizer.token_ids(seed_words)
    unknown = [w for w, i in zip(seed_words, seed_ids) if i == UNK_ID]
    if unknown:
        print(f"warning: seed words not in the vocabulary, read as unknown: {', '.join(unknown)}", file=sys.stderr)
    generator = torch.Generator().manual_seed(cfg.seed) if cfg.seed is not None else None
    ids = generate(module.net, seed_ids, cfg.n_words, cfg.temperature, cfg.top_k, cfg.top_p, cfg.num_samples,
                   generator)
    return [" ".join(seed_words + [tokenizer.id_to_word[i] for i in row.tolist()]) for row in ids]


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="generate")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """Load the checkpoint and print each sampled continuation on its own line."""
    check_command_line(cfg)
    check_sampling_options(cfg.n_words, cfg.temperature, cfg.top_k, cfg.top_p, cfg.num_samples)
    module = load_module(None if cfg.ckpt_path is None else str(cfg.ckpt_path), LanguageModel, "lm")
    for text in continuations(module, cfg):
        print(text)


if __name__ == "__main__":
    main()
