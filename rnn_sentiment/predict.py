"""python -m rnn_sentiment.predict ckpt_path=… text="…" | file=reviews.txt | file=- | file=x.csv column=review

The entry point: load the checkpoint, classify (`prediction.classify`), print the first rows, write
the word attributions. How rows are read, batched and written: the `rnn_sentiment.prediction` package.
"""

import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rnn_sentiment.core.checkpoints import load_module
from rnn_sentiment.core.configs import CONFIG_PATH
from rnn_sentiment.core.errors import exit_on_user_error
from rnn_sentiment.core.files import write_text_atomically
from rnn_sentiment.core.option_types import check_command_line
from rnn_sentiment.module import SentimentClassifier
from rnn_sentiment.prediction.classify import output_path, predict, print_table
from rnn_sentiment.prediction.explanation import attribution_html, word_attributions


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="predict")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """Load the checkpoint, classify, write `output=` and `explain=`, print the first rows."""
    check_command_line(cfg)
    module = load_module(cfg.ckpt_path, SentimentClassifier, "sentiment")
    started = time.perf_counter()
    writer = predict(cfg, module)
    seconds = time.perf_counter() - started

    output = output_path(cfg)
    print_table(writer.kept[: cfg.print_rows], writer.count, output)
    notes = "".join(f", {n:,} {note}" for note, n in sorted(writer.notes.items()))
    wrote = f"; wrote {output}" if output else ""
    print(f"{writer.count:,} row{'s' * (writer.count != 1)} in {seconds:.1f} s{notes}{wrote}", file=sys.stderr)
    if cfg.explain:
        explained = writer.kept[: cfg.explain_rows]
        results = [(r.text, *word_attributions(module.cpu(), r.text)) for r in explained]
        write_text_atomically(Path(cfg.explain), attribution_html(results, module.preprocessing.label_names))
        print(f"word attributions of {len(explained):,} rows: {Path(cfg.explain).resolve()}", file=sys.stderr)


if __name__ == "__main__":
    main()
