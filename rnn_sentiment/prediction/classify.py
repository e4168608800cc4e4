"""One `Trainer.predict` over the input streamed in chunks (`batches.ChunkedTexts`); the
`PredictionWriter` callback appends each batch to the output file, which replaces `output=` only
once every row is written."""

import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import lightning as L
from omegaconf import DictConfig

from rnn_sentiment.core.allocator import keep_freed_memory
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.files import open_atomically
from rnn_sentiment.core.noise import quiet_known_noise
from rnn_sentiment.core.training import instantiate_config
from rnn_sentiment.module import SentimentClassifier
from rnn_sentiment.prediction.batches import ChunkedTexts, prediction_loader
from rnn_sentiment.prediction.inputs import STDIN, InputRow, input_format, read_rows
from rnn_sentiment.prediction.writer import OUTPUT_FORMATS, Prediction, PredictionWriter

def check_options(cfg: DictConfig) -> None:
    """A `UserInputError` for a contradictory or out-of-range option, before anything is read."""
    if (cfg.text is None) == (cfg.file is None):
        raise UserInputError('give exactly one of text="…" or file=<path> (one text per line, a table with '
                             "column=…, or - for standard input)")
    for option in ("batch_size", "chunk_size"):
        if not isinstance(cfg[option], int) or cfg[option] < 1:
            raise UserInputError(f"{option}={cfg[option]!r} must be a positive number of rows")
    for option in ("print_rows", "explain_rows"):
        if not isinstance(cfg[option], int) or cfg[option] < 0:
            raise UserInputError(f"{option}={cfg[option]!r} must be a number of rows, 0 or more")


def output_path(cfg: DictConfig) -> Path | None:
    """`output=` resolved, after checking that it can be written and replaces nothing it should not."""
    if cfg.output is None:
        return None
    path = Path(cfg.output).expanduser().resolve()
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise UserInputError(f"output={cfg.output}: name a .csv or .jsonl file (the suffix picks the format)")
    if not path.parent.is_dir():
        raise UserInputError(f"output={cfg.output}: no folder {path.parent}; create it first")
    if cfg.file not in (None, STDIN) and path == Path(cfg.file).expanduser().resolve():
        raise UserInputError(f"output={cfg.output}: is the input file itself; write the scores to another file")
    return path


def input_rows(cfg: DictConfig) -> Iterator[InputRow]:
    """The rows to classify: `text=`'s one text, or `file=`'s rows read lazily."""
    if cfg.text is not None:
        return iter([InputRow(0, 0, str(cfg.text))])
    return read_rows(cfg.file, input_format(cfg.file, cfg.format), cfg.column, cfg.id_column)


def build_trainer(cfg: DictConfig, writer: PredictionWriter) -> L.Trainer:
    """The configured Trainer on one device, with `writer` as its only callback."""
    trainer = instantiate_config(cfg.trainer, callbacks=[writer])
    if trainer.world_size > 1:
        raise UserInputError(f"trainer: prediction runs on one device, not {trainer.world_size}; "
                             "use trainer=cpu or trainer=gpu")
    return trainer


def print_table(shown: list[Prediction], total: int, output: Path | None) -> None:
    """The first rows' scores on stdout, and how many more there are on stderr: `p_positive` (the
    second class's probability) for two classes, `p` (the predicted class's) for more."""
    if not shown:
        return
    print(f"{'p_positive' if len(shown[0].probabilities) == 1 else 'p'}\tlabel\ttext")
    for result in shown:
        snippet = " ".join(result.text.split())
        snippet = f"{snippet[:100]}{'…' if len(snippet) > 100 else ''}" or f"[{result.note}]"
        shown_p = "" if result.confidence is None else f"{result.confidence:.4f}"
        print(f"{shown_p}\t{result.label}\t{snippet}")
    if total > len(shown):
        where = f"in {output}" if output else "not shown; write them all with output=scores.csv (or .jsonl)"
        print(f"… {total - len(shown):,} more rows {where}", file=sys.stderr)


def predict(cfg: DictConfig, module: SentimentClassifier) -> PredictionWriter:
    """Classify every row `cfg` names and write `cfg.output`; the writer holds the counts and first rows."""
    check_options(cfg)
    quiet_known_noise()
    keep_freed_memory()
    output = output_path(cfg)
    pre = module.preprocessing
    dataset = ChunkedTexts(input_rows(cfg), pre.tokenizer, pre.layout, cfg.batch_size, cfg.chunk_size)
    keep = max(cfg.print_rows, cfg.explain_rows if cfg.explain else 0)
    with open_atomically(output) if output else nullcontext() as stream:
        writer = PredictionWriter(stream, OUTPUT_FORMATS.get(output.suffix.lower()) if output else "csv",
                                  pre.label_names, cfg.id_column or "row", cfg.with_text, keep)
        trainer = build_trainer(cfg, writer)
        trainer.predict(module, prediction_loader(dataset), return_predictions=False)
    return writer
