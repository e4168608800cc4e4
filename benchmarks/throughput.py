"""Throughput of rnn-lightning on the real data, side by side in one run; prints tables, writes JSON.

python benchmarks/throughput.py [--imdb ../shared/data/imdb] [--moby ../shared/data/moby_dick.txt]
                                [--steps epoch|N] [--warmup 5] [--repeats 3] [--only train,lm,...]
                                [--epoch-check headline|all|none] [--output benchmarks/results/throughput.json]

Each measurement is registered under a name (`--only` picks some, in the order given) and yields
rows of one kind: a setting, the median of --repeats values with their min and max, a unit and,
optionally, the row of the same run it is compared with and the ratio of the medians. With Keras and
TensorFlow installed (pip install -e ".[keras]"), `train` and `lm` also measure Keras-TF training on
the same batches, and the package's rows give their ratio to it; without them one line says so and
those ratios are left out.

A training row times a whole epoch (`--steps epoch`, the default): the package's row is the entry
point's own epoch (`python -m rnn_sentiment.train` or `lm.train`, its callbacks and checkpoints, its
epoch timer), the plain loop's and Keras' `model.fit`'s are whole epochs of the same batches. With
`--steps N` a row times a window of N batches after --warmup, and `--epoch-check` sets each network's
headline row (or every row) beside a whole real epoch of the same setting, and Keras' beside a whole
`model.fit` epoch, flagging a row more than 10% away. The precision rows always time windows.
"""

import argparse
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import lightning as L
import numpy as np
import pyarrow
import pyarrow.csv
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from lm.data import LanguageModelDataModule
from lm.module import LanguageModel
from lm.sampling import generate, without_onednn
from rnn_sentiment.core.allocator import keep_freed_memory
from rnn_sentiment.core.checkpoints import load_module
from rnn_sentiment.core.files import write_json_atomically
from rnn_sentiment.core.text import WordTokenizer
from rnn_sentiment.core.training import train
from rnn_sentiment.data import SentimentDataModule
from rnn_sentiment.fast_padding import reads_padding_once
from rnn_sentiment.keras_compat import binary_cross_entropy
from rnn_sentiment.module import SentimentClassifier

ROOT = Path(__file__).resolve().parents[1]
KERAS_MISSING = 'Keras-TF: not installed (pip install -e ".[keras]"), so its rows and the ratios to it are skipped'


# --- rows, the registry and the table ---------------------------------------------------------
@dataclass
class Row:
    """One line of the table: `measurement`'s value under `setting`, the median of the repeated
    measurements with their min and max, and optionally the setting of the row (same measurement,
    same run) it is compared with, and `ratio` = this median / that median."""

    measurement: str
    setting: str
    unit: str
    median: float
    min: float
    max: float
    reference: str | None = None
    ratio: float | None = None

    @classmethod
    def of(cls, setting: str, unit: str, values: list[float], reference: "Row | None" = None) -> "Row":
        """A row of these values; the runner fills in `measurement`."""
        median = statistics.median(values)
        return cls("", setting, unit, median, min(values), max(values),
                   reference=reference and reference.setting, ratio=reference and median / reference.median)

    def shown(self) -> str:
        digits = 2 if self.unit == "s" else 0
        return f"{self.median:,.{digits}f} [{self.min:,.{digits}f}–{self.max:,.{digits}f}]"


@dataclass
class Bench:
    """What every measurement may use: the options, a DataModule cache, and the matmul peak (measured
    only when a measurement asks for it)."""

    imdb: Path
    moby: Path
    warmup: int
    steps: int | None  # timed training steps of a window; None: whole epochs
    repeats: int
    cache: str
    keras: object = field(default=None, repr=False)  # the keras module, or None without the optional extra
    epoch_check: str = "headline"  # Lightning rows checked against a real epoch: headline, all or none
    matmul_flops: float | None = None  # FLOP/s of a 2048² fp32 matmul, once measured

    def measure(self, fn: Callable[[], float]) -> list[float]:
        return [fn() for _ in range(self.repeats)]

    @property
    def window(self) -> int | None:
        """The batches a window reads (warm-up and timed), None for a whole epoch."""
        return None if self.steps is None else self.warmup + self.steps

    def peak_flops(self) -> float:
        if self.matmul_flops is None:
            a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
            for _ in range(3):
                a @ b
            start = time.perf_counter()
            for _ in range(10):
                a @ b
            self.matmul_flops = 10 * 2 * 2048**3 / (time.perf_counter() - start)
        return self.matmul_flops


MEASUREMENTS: dict[str, Callable[[Bench], Iterator[Row]]] = {}


def measurement(name: str):
    """Registers a generator of rows under `name`, selectable with --only."""
    def register(fn):
        MEASUREMENTS[name] = fn
        return fn
    return register


def run(names: list[str], bench: Bench) -> list[Row]:
    """The rows of the named measurements, in order, each printed as soon as it is measured."""
    rows = []
    for name in names:
        for row in MEASUREMENTS[name](bench):
            row = replace(row, measurement=name)
            print(f"  {name}: {row.setting}: {row.shown()} {row.unit}", flush=True)
            rows.append(row)
    return rows


def relative(reference: str, setting: str) -> str:
    """`reference` without the leading parts (each ending in ", " or ": ") that `setting` shares."""
    cut = 0
    for separator in re.finditer(r"[,:] ", reference):
        if setting.startswith(reference[: separator.end()]):
            cut = separator.end()
    return reference[cut:]


def print_table(rows: list[Row]) -> None:
    """The rows as Markdown, a table per measurement; a reference is named by what differs from the row."""
    header = "| measurement | setting | median [min–max] | unit | compared with | ratio |\n|---|---|---|---|---|---|"
    previous = None
    for row in rows:
        if row.measurement != previous:
            print(f"\n{header}")
            previous = row.measurement
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}×"
        reference = "" if row.reference is None else relative(row.reference, row.setting)
        print(f"| {row.measurement} | {row.setting} | {row.shown()} | {row.unit} | {reference} | {ratio} |")


# --- set-up helpers -----------------------------------------------------------------------------
def config(primary: str, overrides: list[str]):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose(primary, overrides=["paths.output_dir=/tmp", "paths.log_dir=/tmp", *overrides])


def prepared(primary: str, overrides: list[str]):
    """The composed config, its set-up DataModule, and a maker of freshly seeded modules."""
    cfg = config(primary, overrides)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")

    def fresh():
        L.seed_everything(0, verbose=False)
        module = instantiate(cfg.model, **datamodule.network_arguments())
        module.set_preprocessing(datamodule.preprocessing())
        return module

    return cfg, datamodule, fresh


def first_batches(datamodule, count: int | None) -> list[dict]:
    """The first `count` training batches of epoch 0 (None: all of them): the batches every timed loop
    of a setting sees."""
    batches = []
    for batch in datamodule.train_dataloader():
        if len(batches) == count:
            break
        batches.append(batch)
    return batches


def items_in(batch: dict) -> int:
    """Reviews in a classifier batch, predicted words in a language-model batch."""
    return len(batch["labels"]) if "labels" in batch else batch["targets"].numel()


# --- tokenization and DataModule set-up --------------------------------------------------------
def imdb_texts(imdb: Path, split: str) -> list[str]:
    import datasets

    return list(datasets.load_dataset("parquet", data_files=str(imdb / f"{split}.parquet"), split="train")["text"])


@measurement("tokenize")
def bench_tokenize(bench: Bench) -> Iterator[Row]:
    train = imdb_texts(bench.imdb, "train")
    texts = train + imdb_texts(bench.imdb, "test")
    tokenizer = WordTokenizer.fit(train, 5000)

    def fit():
        start = time.perf_counter()
        WordTokenizer.fit(train, 5000)
        return len(train) / (time.perf_counter() - start)

    def encode():
        start = time.perf_counter()
        tokenizer.encode_ragged(texts)
        return len(texts) / (time.perf_counter() - start)

    yield Row.of(f"fit tokenizer ({len(train):,} reviews)", "reviews/s", bench.measure(fit))
    yield Row.of(f"encode {len(texts):,} reviews", "reviews/s", bench.measure(encode))


@measurement("setup")
def bench_setup(bench: Bench) -> Iterator[Row]:
    with tempfile.TemporaryDirectory() as cache:
        def setup():
            start = time.perf_counter()
            SentimentDataModule(path=str(bench.imdb), cache_dir=cache, val_on_test=True).setup("fit")
            return time.perf_counter() - start

        yield Row.of("IMDB DataModule, first (tokenize + cache)", "s", [setup()])
        yield Row.of("IMDB DataModule, cached", "s", bench.measure(setup))


# --- training: Lightning, a plain loop, Keras-TF ---------------------------------------------
class BatchClock(L.Callback):
    """Times batches `warmup`… to the end: the whole Lightning step, data loading included."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.items = warmup, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.start = time.perf_counter()
        if batch_idx >= self.warmup:
            self.items += items_in(batch)

    def on_train_end(self, trainer, pl_module):
        self.seconds = time.perf_counter() - self.start


PRECISION_STEPS = 40  # the window of the precision rows, which compare precisions (an lm_imdb epoch is 20 minutes)


def lightning_rate(cfg, module, datamodule, bench: Bench) -> float:
    """Items/s of the configured Trainer fitting the LightningModule on the DataModule, over the window
    (`PRECISION_STEPS` timed steps where the bench runs whole epochs)."""
    clock = BatchClock(bench.warmup)
    trainer = instantiate(
        cfg.trainer, max_steps=bench.window or bench.warmup + PRECISION_STEPS, max_epochs=1, limit_val_batches=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[clock],
    )
    trainer.fit(module, datamodule=datamodule)
    return clock.items / clock.seconds


def plain_rate(module, datamodule, bench: Bench, loss_fn) -> float:
    """Items/s of the same network, batches and optimizer (the module's own) in a hand-written loop:
    over the window after its warm-up, or over a whole epoch, first batch included."""
    optimizer = module.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    module.train()
    warmup = 0 if bench.steps is None else bench.warmup
    items, start = 0, time.perf_counter()
    for i, batch in enumerate(datamodule.train_dataloader()):
        if i == warmup:
            start = time.perf_counter()
        if i == bench.window:
            break
        optimizer.zero_grad(set_to_none=True)
        loss_fn(module, batch).backward()
        optimizer.step()
        if i >= warmup:
            items += items_in(batch)
    return items / (time.perf_counter() - start)


def keras_rate(model, batches: list[dict], inputs: str, targets: str, warmup: int) -> Callable[[], float]:
    """A timer of Keras' `model.fit` over `batches` after the first `warmup` (fitted once here, which
    traces the training step): items/s, one epoch of the remaining batches in order."""
    as_array = lambda key, part: np.concatenate([b[key].numpy() for b in part])
    x, y = as_array(inputs, batches).astype("int32"), as_array(targets, batches)
    y = y.reshape(len(x), -1)  # (items, 1): a label per review, or the next word's id
    split, batch_size = sum(len(b[inputs]) for b in batches[:warmup]), len(batches[0][inputs])
    if split:
        model.fit(x[:split], y[:split], batch_size=batch_size, shuffle=False, verbose=0)

    def fit() -> float:
        start = time.perf_counter()
        model.fit(x[split:], y[split:], batch_size=batch_size, shuffle=False, verbose=0)
        return (len(x) - split) / (time.perf_counter() - start)

    return fit


def classifier_loss(module, batch):
    return binary_cross_entropy(module(batch["tokens"], batch.get("lengths")), batch["labels"], module.hparams.loss)


def classifier_flops_per_review(net, length: float) -> float:
    """Multiply-adds ×2 of the forward pass over `length` input columns, ×3 for forward plus backward."""
    rnn = net.rnn
    steps = length / net.pool_size if net.conv is not None else length
    gates = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}[rnn.mode]
    recurrent = 2 * steps * gates * rnn.hidden_size * (rnn.input_size + rnn.hidden_size)
    conv = 0
    if net.conv is not None:
        layer = net.conv[0]
        conv = 2 * length * layer.in_channels * layer.out_channels * layer.kernel_size[0]
    return 3 * (recurrent + conv)


def columns_read(net, batch: dict) -> int:
    """Input columns the network runs the whole batch over: the batch's width, less the leading
    all-padding columns that fast padding runs once at batch size 1 (not counted)."""
    tokens = batch["tokens"]
    if "lengths" in batch or not reads_padding_once(net):
        return tokens.shape[1]
    real = tokens.ne(0).any(0).nonzero()
    return tokens.shape[1] - int(real[0]) if len(real) else 1


# name → overrides on top of experiment=tutorial; the first is the headline, Keras' batches are random ones
HEADLINE = "tutorial, fixed by length, fast padding"
TRAIN_SETTINGS = {
    "tutorial, fixed by length, fast padding": ["data.by_length=true", "model.net.fast_padding=true"],
    "tutorial, fixed random batches": ["data.by_length=false", "model.net.fast_padding=true"],
    "tutorial, fixed by length, model.net.fast_padding=false": ["data.by_length=true", "model.net.fast_padding=false"],
    "tutorial, bucket": ["data.batching=bucket"],
}


def tutorial_overrides(model: str, bench: Bench, extra: list[str]) -> list[str]:
    return ["experiment=tutorial", f"model={model}", f"data.path={bench.imdb}", f"data.cache_dir={bench.cache}",
            *extra]


def keras_network(keras, steps: int, layers: list, lr: float, loss: str):
    """A seeded Keras Sequential over (batch, steps) int32 ids, compiled with Adam as the tutorial compiles it."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((steps,), dtype="int32"), *layers])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss=loss)
    return model


def keras_classifier(keras, net, vocab_size: int, max_len: int, lr: float):
    """The tutorial's classifier for the settings `net` (cfg.model.net): Embedding → [Conv1D(same, relu) →
    MaxPooling1D] → SimpleRNN (cell=rnn) or LSTM → Dense(1, sigmoid), binary cross-entropy."""
    layers = keras.layers
    conv = [layers.Conv1D(net.conv_channels, net.conv_kernel, padding="same", activation="relu"),
            layers.MaxPooling1D(net.pool_size)] if net.conv_channels else []
    recurrent = layers.SimpleRNN if net.cell == "rnn" else layers.LSTM
    return keras_network(keras, max_len, [layers.Embedding(vocab_size, net.embed_dim), *conv, recurrent(net.hidden_size),
                                 layers.Dense(1, activation="sigmoid")], lr, "binary_crossentropy")


def keras_classifier_row(model: str, bench: Bench) -> Row | None:
    """Keras-TF's `model.fit` of the tutorial network on the package's fixed random batches."""
    if bench.keras is None:
        return None
    cfg, datamodule, _ = prepared("train", tutorial_overrides(model, bench, TRAIN_SETTINGS[
        "tutorial, fixed random batches"]))
    network = keras_classifier(bench.keras, cfg.model.net, cfg.data.num_words, cfg.data.max_len, cfg.model.lr)
    batches = first_batches(datamodule, bench.window)
    rate = keras_rate(network, batches, "tokens", "labels", bench.warmup)
    epoch = ", whole epoch" if bench.steps is None else ""
    return Row.of(f"{model}, Keras-TF model.fit, fixed random batches{epoch}", "reviews/s", bench.measure(rate))


EPOCH_TOLERANCE = 0.10  # a training row more than this far from its real epoch is flagged


def train_one_epoch(primary: str, overrides: list[str], folder: Path) -> None:
    """One training epoch as a user runs it, in the run directory `folder`: `core.training.train` (the
    entry point's own code: its callbacks, checkpoints and logging), no validation or test."""
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(primary, overrides=[*overrides, "trainer.max_epochs=1", "test=false", "trainer.limit_val_batches=0",
                                          "trainer.enable_progress_bar=false", f"paths.output_dir={folder}",
                                          f"paths.log_dir={folder}"])
    train(cfg)


def real_epoch_rate(primary: str, overrides: list[str], datamodule) -> float:
    """Items/s of `train_one_epoch`, from the epoch seconds it writes to `metrics.json`
    (`time/train_epoch_s`: training batches only); `datamodule` (the same settings, set up) counts the
    items of the epoch."""
    with tempfile.TemporaryDirectory() as folder:
        train_one_epoch(primary, overrides, Path(folder))
        seconds = json.loads((Path(folder) / "metrics.json").read_text())["train_epoch_seconds"][0]
    return sum(items_in(batch) for batch in datamodule.train_dataloader()) / seconds


def epoch_check_row(label: str, window: Row, rate: float) -> Row:
    """The real epoch's rate beside the window measurement `window`; outside the tolerance it says so."""
    agrees = abs(window.median / rate - 1) <= EPOCH_TOLERANCE
    verdict = "agrees" if agrees else f"DISAGREES by more than {EPOCH_TOLERANCE:.0%}"
    return Row.of(f"{label}: real epoch, {verdict}", "reviews/s", [rate], window)


def keras_epoch_row(model: str, bench: Bench, keras: Row) -> Row:
    """Keras-TF's `model.fit` over a whole epoch of the package's fixed random batches (one epoch, traced first)."""
    cfg, datamodule, _ = prepared("train", tutorial_overrides(model, bench, TRAIN_SETTINGS[
        "tutorial, fixed random batches"]))
    network = keras_classifier(bench.keras, cfg.model.net, cfg.data.num_words, cfg.data.max_len, cfg.model.lr)
    rate = keras_rate(network, first_batches(datamodule, None), "tokens", "labels", bench.warmup)()
    return epoch_check_row(f"{model}, Keras-TF model.fit, fixed random batches", keras, rate)


@measurement("train")
def bench_train(bench: Bench) -> Iterator[Row]:
    for model in ("elman", "lstm", "conv_lstm"):
        keras = keras_classifier_row(model, bench)
        if keras is not None:
            yield keras
            if bench.steps is not None and bench.epoch_check != "none":
                keras = keras_epoch_row(model, bench, keras)
                yield keras
        for setting, overrides in TRAIN_SETTINGS.items():
            settings = tutorial_overrides(model, bench, overrides)
            cfg, datamodule, fresh = prepared("train", settings)
            label = f"{model}, {setting}"
            if bench.steps is None:  # the entry point's own epoch: what a user's epoch costs
                lightning = Row.of(f"{label}: python -m rnn_sentiment.train, whole epoch", "reviews/s",
                                   bench.measure(lambda: real_epoch_rate("train", settings, datamodule)), keras)
                yield lightning
            else:
                lightning = Row.of(f"{label}: Lightning", "reviews/s",
                                   bench.measure(lambda: lightning_rate(cfg, fresh(), datamodule, bench)), keras)
                yield lightning
                if bench.epoch_check == "all" or (bench.epoch_check == "headline" and setting == HEADLINE):
                    yield epoch_check_row(label, lightning, real_epoch_rate("train", settings, datamodule))
            yield Row.of(f"{label}: plain loop", "reviews/s",
                         bench.measure(lambda: plain_rate(fresh(), datamodule, bench, classifier_loss)), lightning)
            net = fresh().net
            columns = statistics.mean(columns_read(net, batch) for batch in first_batches(datamodule, bench.window))
            floor = bench.peak_flops() / classifier_flops_per_review(net, columns)
            yield Row.of(f"{label}: floor ({columns:.0f} columns, FLOPs / matmul rate)", "reviews/s", [floor],
                         lightning)


@torch.inference_mode()
def evaluation_rate(module, datamodule) -> float:
    """Reviews/s of the module's forward over the whole test split, batched as `trainer.test` gets it."""
    items, start = 0, time.perf_counter()
    for batch in datamodule.test_dataloader():
        module(batch["tokens"], batch.get("lengths"))
        items += len(batch["labels"])
    return items / (time.perf_counter() - start)


@measurement("eval")
def bench_eval(bench: Bench) -> Iterator[Row]:
    """The tutorial LSTM's forward over the whole test split, batched as `trainer.test` gets it. (The
    whole split: its loader sorts by length, so its first batches hold the shortest reviews.)"""
    for setting, overrides in {"fixed": ["data.by_length=false"], "fixed by length, fast padding": ["data.by_length=true"],
                               "bucket": ["data.batching=bucket"]}.items():
        _, datamodule, fresh = prepared("train", tutorial_overrides("lstm", bench, overrides))
        module = fresh().eval()
        yield Row.of(f"LSTM, tutorial, {setting}", "reviews/s", bench.measure(lambda: evaluation_rate(module, datamodule)))


PREDICT_MODELS = {"LSTM, tutorial": "lstm", "Conv-LSTM, tutorial": "conv_lstm"}


def briefly_trained(overrides: list[str], workdir: Path) -> Path:
    """The checkpoint of 5 training steps of the setting (predict's speed does not depend on the weights)."""
    train_one_epoch("train", [*overrides, "trainer.limit_train_batches=5", "~logger"], workdir)
    return workdir / "checkpoints" / "last.ckpt"


def predict_rates(ckpt: Path, reviews: Path, count: int, workdir: Path) -> tuple[float, float]:
    """Reviews/s of `python -m rnn_sentiment.predict` on the CSV `reviews` as a user runs it: a new
    process that reads, tokenizes, classifies and writes scores.csv, timed from outside (start-up and
    imports included) and by predict's own clock (`N rows in S s`: reading to writing)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rnn_sentiment.predict", f"ckpt_path={ckpt}", f"file={reviews}",
                           "column=text", f"output={workdir / 'scores.csv'}", "print_rows=0"], cwd=workdir,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"predict failed: {done.stderr[-2000:]}")
    (workdir / "scores.csv").unlink()
    own = re.search(r"([\d,]+) rows in ([\d.]+) s", done.stderr)
    return count / seconds, int(own[1].replace(",", "")) / float(own[2])


@measurement("predict")
def bench_predict(bench: Bench, copies: int = 2) -> Iterator[Row]:
    """`predict` end to end on the IMDB test reviews `copies` times over, beside the evaluation loop of
    the same checkpoint: the module's forward in inference mode over the test split's batches as
    `trainer.test` gets them (already tokenized)."""
    texts = imdb_texts(bench.imdb, "test") * copies
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        reviews = workdir / "reviews.csv"
        pyarrow.csv.write_csv(pyarrow.table({"text": texts}), reviews)
        for model, name in PREDICT_MODELS.items():
            setting = tutorial_overrides(name, bench, [])
            ckpt = briefly_trained(setting, workdir / name)
            _, datamodule, _ = prepared("train", setting)
            module = load_module(str(ckpt), SentimentClassifier, "sentiment")
            evaluation = Row.of(f"{model}: evaluation loop, test split", "reviews/s",
                                bench.measure(lambda: evaluation_rate(module, datamodule)))
            yield evaluation
            outside, inside = zip(*bench.measure(lambda: predict_rates(ckpt, reviews, len(texts), workdir)))
            label = f"{model}: python -m rnn_sentiment.predict, {len(texts):,} reviews"
            yield Row.of(f"{label}, end to end", "reviews/s", list(outside), evaluation)
            yield Row.of(f"{label}, its own clock (start-up excluded)", "reviews/s", list(inside), evaluation)


@measurement("bidirectional")
def bench_bidirectional(bench: Bench, batches: int = 3) -> Iterator[Row]:
    """A training step of the imdb_tuned BiLSTM's recurrent layer: the package's two LSTMs over
    reversed texts against PyTorch's packed `bidirectional=True` LSTM, same bucketed batches."""
    _, datamodule, fresh = prepared("train", [
        "experiment=imdb_tuned", "model=lstm", "model.net.bidirectional=true", f"data.path={bench.imdb}",
        f"data.cache_dir={bench.cache}"])
    net = fresh().net
    packed_lstm = nn.LSTM(net.embedding.embedding_dim, net.hidden_size, batch_first=True, bidirectional=True)
    sample = first_batches(datamodule, batches)

    def reversed_texts(batch):
        return net.rnn(net.embedding(batch["tokens"]), batch["lengths"])

    def packed(batch):
        x = pack_padded_sequence(net.embedding(batch["tokens"]), batch["lengths"], batch_first=True,
                                 enforce_sorted=False)
        return packed_lstm(x)[0].data

    def rate(step):
        def train_layer():
            start = time.perf_counter()
            for batch in sample:
                step(batch).sum().backward()
            return sum(len(b["labels"]) for b in sample) / (time.perf_counter() - start)
        return train_layer

    baseline = Row.of("BiLSTM layer, packed bidirectional=True", "reviews/s", bench.measure(rate(packed)))
    yield baseline
    yield Row.of("BiLSTM layer, package (reversed texts)", "reviews/s", bench.measure(rate(reversed_texts)), baseline)


# --- language model ---------------------------------------------------------------------------
def lm_loss(module, batch):
    logits, _ = module(batch["tokens"])
    return F.cross_entropy(logits.flatten(0, 1), batch["targets"].flatten())


def keras_language_model(keras, net, vocab_size: int, lr: float):
    """The tutorial's language model for the settings `net` (cfg.model.net), over one word: Embedding → LSTM →
    Dense(softmax), and the categorical cross-entropy on word ids (sparse: the same loss without one-hot targets)."""
    layers = keras.layers
    return keras_network(keras, 1, [layers.Embedding(vocab_size, net.embed_dim), layers.LSTM(net.hidden_size),
                                 layers.Dense(vocab_size, activation="softmax")], lr, "sparse_categorical_crossentropy")


@measurement("lm")
def bench_lm(bench: Bench) -> Iterator[Row]:
    for preset in ("lm_tutorial", "lm_tuned"):
        # no plateau schedule: it acts between epochs, and a short text's epoch may end within the timed steps
        overrides = [f"experiment={preset}", f"data.path={bench.moby}", f"data.cache_dir={bench.cache}", "model.lr_decay=1.0"]
        cfg, datamodule, fresh = prepared("lm", overrides)
        label = f"{preset} (seq_len {cfg.data.seq_len})"
        keras = None  # Keras runs the tutorial's network only
        if preset == "lm_tutorial" and bench.keras is not None:
            network = keras_language_model(bench.keras, cfg.model.net, datamodule.vocab_size, cfg.model.lr)
            rate = keras_rate(network, first_batches(datamodule, bench.window), "tokens", "targets", bench.warmup)
            keras = Row.of(f"{label}: Keras-TF model.fit{', whole epoch' if bench.steps is None else ''}", "words/s",
                           bench.measure(rate))
            yield keras
        if bench.steps is None:
            lightning = Row.of(f"{label}: python -m lm.train, whole epoch", "words/s",
                               bench.measure(lambda: real_epoch_rate("lm", overrides, datamodule)), keras)
        else:
            lightning = Row.of(f"{label}: Lightning", "words/s",
                               bench.measure(lambda: lightning_rate(cfg, fresh(), datamodule, bench)), keras)
        yield lightning
        yield Row.of(f"{label}: plain loop", "words/s",
                     bench.measure(lambda: plain_rate(fresh(), datamodule, bench, lm_loss)), lightning)


@measurement("precision")
def bench_precision(bench: Bench) -> Iterator[Row]:
    """The two-stage IMDB recipe's networks (docs/results.md: "Pretrained encoder") in full precision and in
    bf16 autocast, on all threads and on one: the lm_imdb language model on the training reviews'
    text, and the imdb_pretrained classifier's network (its no_pretraining ablation: the same sizes,
    no checkpoint needed) on bucketed reviews."""
    networks = {
        "lm_imdb": ("lm", "words/s", ["experiment=lm_imdb", f"data.path={bench.imdb / 'train.parquet'}",
                                      "data.exclude_texts_of=null", "model.lr_decay=1.0"]),
        "imdb_pretrained": ("train", "reviews/s", ["experiment=imdb_pretrained", "+ablation=no_pretraining",
                                                   f"data.path={bench.imdb}"]),
    }
    all_threads = torch.get_num_threads()
    settings = [(precision, threads) for threads in sorted({all_threads, 1}, reverse=True)
                for precision in ("32-true", "bf16-mixed")]
    for name, (primary, unit, overrides) in networks.items():
        _, datamodule, fresh = prepared(primary, [*overrides, f"data.cache_dir={bench.cache}"])
        baseline = None
        for precision, threads in settings:
            cfg = config(primary, [*overrides, f"data.cache_dir={bench.cache}", f"trainer.precision={precision}"])
            torch.set_num_threads(threads)
            try:
                window = f", {PRECISION_STEPS}-step window" if bench.steps is None else ""
                row = Row.of(f"{name}: {precision}, {threads} thread{'s' if threads > 1 else ''}{window}", unit,
                             bench.measure(lambda: lightning_rate(cfg, fresh(), datamodule, bench)), baseline)
            finally:
                torch.set_num_threads(all_threads)
            baseline = baseline or row
            yield row


def tutorial_sample(net, word_index: dict, seed_word: str, n_words: int, temperature: float, rng) -> list[str]:
    """The tutorial's algorithm: re-encode the last word, no state kept, softmax in NumPy,
    and find each sampled id's word by scanning the vocabulary."""
    words = [seed_word]
    for _ in range(n_words):
        encoded = torch.tensor([[word_index.get(words[-1], 1)]])
        with torch.no_grad():
            logits, _ = net(encoded)
        prediction = torch.softmax(logits[0, -1], dim=-1).numpy().astype("float64")
        prediction = np.log(prediction + 1e-12) / temperature
        prediction = np.exp(prediction) / np.exp(prediction).sum()
        index = int(np.argmax(rng.multinomial(1, prediction, 1)))
        for word, i in word_index.items():
            if i == index:
                words.append(word)
                break
    return words


@measurement("generate")
def bench_generate(bench: Bench, n_words: int = 200) -> Iterator[Row]:
    datamodule = LanguageModelDataModule(path=str(bench.moby), cache_dir=bench.cache)
    datamodule.setup("fit")
    module = LanguageModel(datamodule.vocab_size, {}).eval()
    tokenizer = datamodule.tokenizer
    word_index = {w: i for i, w in enumerate(tokenizer.id_to_word)}
    rng = np.random.default_rng(0)

    def ours(samples: int):
        def sample():
            start = time.perf_counter()
            generate(module.net, tokenizer.token_ids(["ship"]), n_words, num_samples=samples,
                     generator=torch.Generator().manual_seed(0))
            return samples * n_words / (time.perf_counter() - start)
        return sample

    def theirs():
        start = time.perf_counter()
        tutorial_sample(module.net, word_index, "ship", n_words, 1.0, rng)
        return n_words / (time.perf_counter() - start)

    def theirs_without_onednn():
        with without_onednn():
            return theirs()

    baseline = Row.of("tutorial algorithm", "words/s", bench.measure(theirs))
    yield baseline
    yield Row.of("tutorial algorithm, oneDNN off", "words/s", bench.measure(theirs_without_onednn), baseline)
    yield Row.of("package, 1 sample", "words/s", bench.measure(ours(1)), baseline)
    yield Row.of("package, 64 samples as a batch", "words/s", bench.measure(ours(64)), baseline)


# --- entry point ------------------------------------------------------------------------------
def keras_if_installed():
    """The `keras` module on TensorFlow (the optional extra `.[keras]`), or None when either is missing."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras
        import tensorflow  # noqa: F401
    except ModuleNotFoundError:
        return None
    return keras


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imdb", type=Path, default=ROOT.parent / "shared/data/imdb")
    parser.add_argument("--moby", type=Path, default=ROOT.parent / "shared/data/moby_dick.txt")
    parser.add_argument("--steps", default="epoch",
                        help="timed training steps per measurement, or epoch (default): whole epochs, timed as a "
                             "user's epoch is (the precision rows keep windows of 40 steps)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed training steps before them")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per row (median, min, max)")
    parser.add_argument("--only", default=",".join(MEASUREMENTS),
                        help=f"comma-separated measurements, in order: {','.join(MEASUREMENTS)} (default: all)")
    parser.add_argument("--epoch-check", choices=["headline", "all", "none"], default="headline",
                        help="check the Lightning training rows (and Keras') against a whole real epoch of the same "
                             "setting, in this run: the headline setting of each network (default), all, or none")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/throughput.json")
    args = parser.parse_args(argv)
    args.only = args.only.split(",")
    unknown = [name for name in args.only if name not in MEASUREMENTS]
    if unknown:
        parser.error(f"--only {','.join(unknown)}: no such measurement; choose from {','.join(MEASUREMENTS)}")
    if args.steps == "epoch":
        args.steps = None
    elif not args.steps.isdigit() or int(args.steps) < 1:
        parser.error(f"--steps {args.steps}: give a number of steps (at least 1) or epoch")
    else:
        args.steps = int(args.steps)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_float32_matmul_precision("high")
    if keep_freed_memory():  # what the entry points set; here for every row, Keras-TF's and the plain loop's too
        print("allocator: glibc keeps freed memory for reuse in this process (rnn_sentiment/core/allocator.py)", flush=True)
    compares_with_keras = bool({"train", "lm"} & set(args.only))
    keras = keras_if_installed() if compares_with_keras else None
    bench = Bench(args.imdb, args.moby, args.warmup, args.steps, args.repeats,
                  cache=os.environ.get("RNN_LIGHTNING_CACHE") or tempfile.mkdtemp(), keras=keras,
                  epoch_check=args.epoch_check)
    keras_note = ""
    if keras is not None:
        keras_note = f"Keras-TF: keras {keras.__version__} on {keras.backend.backend()}, measured on the same batches"
    elif compares_with_keras:
        keras_note = KERAS_MISSING
    if keras_note:
        print(keras_note, flush=True)
    rows = run(args.only, bench)
    results = {
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "keras": keras and keras.__version__, "tensorflow": keras and importlib.import_module("tensorflow").__version__,
        "matmul_gflops": bench.matmul_flops and bench.matmul_flops / 1e9,
        "options": {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "only": args.only,
                    "epoch_check": args.epoch_check},
        "rows": [asdict(row) for row in rows],
    }
    write_json_atomically(args.output, results)
    matmul = f", matmul {results['matmul_gflops']:.0f} GFLOP/s" if results["matmul_gflops"] else ""
    print(f"\ntorch {results['torch']}, {results['threads']} threads{matmul}" + (f"\n{keras_note}" if keras_note else ""))
    print_table(rows)


if __name__ == "__main__":
    main()
