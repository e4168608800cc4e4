"""python -m rnn_sentiment.predict ckpt_path=… text="…" | file=reviews.txt | file=x.csv column=review"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rnn_sentiment import sources
from rnn_sentiment.checkpoints import load_module
from rnn_sentiment.configs import CONFIG_PATH
from rnn_sentiment.errors import UserInputError, exit_on_user_error
from rnn_sentiment.explain import attribution_html, word_attributions
from rnn_sentiment.module import SentimentClassifier


def read_texts(cfg: DictConfig) -> list[str]:
    if (cfg.text is None) == (cfg.file is None):
        raise UserInputError('give exactly one of text="…" or file=<path> (one text per line, or a table with column=…)')
    if cfg.text is not None:
        texts = [str(cfg.text)]
        where = "text"
    else:
        path = sources.resolve(cfg.file, "file")
        where = str(path)
        if path.suffix.lower() in sources.FORMATS:
            texts = sources.texts_of(sources.load_splits(path, "")["train"][0], cfg.column, where)
        else:
            texts = [line for line in sources.read_utf8(path).splitlines() if line.strip()]
    if not texts or not all(t.strip() for t in texts):
        raise UserInputError(f"{where}: no text to classify")
    return texts


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="predict")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    module = load_module(cfg.ckpt_path, SentimentClassifier, "sentiment")
    texts = read_texts(cfg)
    probabilities = module.predict_proba(texts, batch_size=cfg.batch_size).tolist()
    names = module.preprocessing["label_names"]
    print("p_positive\tlabel\ttext")
    for text, p in zip(texts, probabilities):
        snippet = " ".join(text.split())
        print(f"{p:.4f}\t{names[int(p >= 0.5)]}\t{snippet[:100]}{'…' if len(snippet) > 100 else ''}")
    if cfg.output:
        lines = ["p_positive,label"] + [f"{p:.6f},{names[int(p >= 0.5)]}" for p in probabilities]
        Path(cfg.output).write_text("\n".join(lines) + "\n")
    if cfg.explain:
        results = [(text, *word_attributions(module, text)) for text in texts]
        Path(cfg.explain).write_text(attribution_html(results, names))
        print(f"word attributions: {Path(cfg.explain).resolve()}", file=sys.stderr)


if __name__ == "__main__":
    main()
