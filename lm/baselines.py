"""Count baselines on the LM's own splits: add-k unigram and interpolated Kneser-Ney bigram.

python -m lm.baselines data.path=../shared/data/moby_dick.txt
"""

import math
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from rnn_sentiment.core.configs import CONFIG_PATH
from rnn_sentiment.core.errors import exit_on_user_error
from rnn_sentiment.core.files import write_json_atomically
from rnn_sentiment.core.training import instantiate_config


def unigram_perplexity(train: np.ndarray, test: np.ndarray, vocab_size: int, k: float = 1.0) -> float:
    """Perplexity on `test` ids of add-`k` unigram counts of `train` ids (both 1-D int arrays)."""
    counts = np.bincount(train, minlength=vocab_size) + k
    log_p = np.log(counts / counts.sum())
    return math.exp(-log_p[test].mean())


def kneser_ney_bigram_perplexity(train: np.ndarray, test: np.ndarray, vocab_size: int, discount: float = 0.75) -> float:
    """P(w|v) = max(c(v,w) − d, 0)/c(v) + d·N₁₊(v·)/c(v) · P_cont(w), P_cont add-one smoothed."""
    pairs = train[:-1].astype(np.int64) * vocab_size + train[1:]
    keys, counts = np.unique(pairs, return_counts=True)
    history_count = np.bincount(train[:-1], minlength=vocab_size).astype(np.float64)
    followers = np.bincount(keys // vocab_size, minlength=vocab_size).astype(np.float64)
    continuation = np.bincount(keys % vocab_size, minlength=vocab_size) + 1.0
    p_cont = continuation / continuation.sum()

    v, w = test[:-1].astype(np.int64), test[1:].astype(np.int64)
    slot = np.searchsorted(keys, v * vocab_size + w)
    slot = np.minimum(slot, len(keys) - 1)
    pair_count = np.where(keys[slot] == v * vocab_size + w, counts[slot], 0).astype(np.float64)
    seen = history_count[v] > 0
    c_v = np.where(seen, history_count[v], 1.0)
    p = np.where(
        seen,
        np.maximum(pair_count - discount, 0) / c_v + discount * followers[v] / c_v * p_cont[w],
        p_cont[w],
    )
    return math.exp(-np.log(p).mean())


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="lm")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """Both baselines' test perplexity on the language model's own splits, into `baselines.json`."""
    datamodule = instantiate_config(cfg.data)
    datamodule.setup("fit")
    train, test = datamodule.ids["train"].numpy(), datamodule.ids["test"].numpy()
    vocab = datamodule.vocab_size
    results = {
        "unigram (add-1) test/ppl": unigram_perplexity(train, test, vocab),
        "bigram (interpolated Kneser-Ney) test/ppl": kneser_ney_bigram_perplexity(train, test, vocab),
    }
    print(f"train {len(train):,} words, test {len(test):,} words, vocabulary {vocab:,}")
    for name, value in results.items():
        print(f"  {name:45s} {value:8.1f}")
    write_json_atomically(Path(cfg.paths.output_dir) / "baselines.json", results)


if __name__ == "__main__":
    main()
