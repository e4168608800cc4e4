"""Throughput of rnn-lightning on the real data, side by side in one run; prints a table, writes JSON.

python benchmarks/throughput.py [--imdb ../shared/data/imdb] [--moby ../shared/data/moby_dick.txt]
                                [--steps 40] [--repeats 3]
                                [--only tokenize,train,eval,bidirectional,lm,generate]

Each figure is the median of --repeats measurements, with min–max in brackets.
"""

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from lm.data import LanguageModelDataModule
from lm.module import LanguageModel
from lm.sampling import generate, without_onednn
from rnn_sentiment.core.text import WordTokenizer
from rnn_sentiment.data import SentimentDataModule

ROOT = Path(__file__).resolve().parents[1]
KERAS_REVIEWS_PER_S = {"elman": 1300, "lstm": 465, "conv_lstm": 700}  # the issue's Keras-TF figures, this machine
KERAS_LM_PAIRS_PER_S = 205_293 / 143


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def shown(stats: dict, digits: int = 0) -> str:
    return f"{stats['median']:,.{digits}f} [{stats['min']:,.{digits}f}–{stats['max']:,.{digits}f}]"


def measure(fn, repeats: int) -> dict:
    return summary([fn() for _ in range(repeats)])


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
        module = instantiate(cfg.model, vocab_size=datamodule.vocab_size)
        module.set_preprocessing(datamodule.preprocessing())
        return module

    return cfg, datamodule, fresh


# --- tokenization and DataModule setup -------------------------------------------------------
def bench_tokenize(imdb: Path, repeats: int) -> list[dict]:
    import datasets

    texts = [text for split in ("train", "test")
             for text in datasets.load_dataset("parquet", data_files=str(imdb / f"{split}.parquet"), split="train")["text"]]
    tokenizer = WordTokenizer.fit(texts[:25000], 5000)

    def encode():
        start = time.perf_counter()
        tokenizer.encode_ragged(texts)
        return len(texts) / (time.perf_counter() - start)

    def fit():
        start = time.perf_counter()
        WordTokenizer.fit(texts[:25000], 5000)
        return 25000 / (time.perf_counter() - start)

    rows = [
        {"what": "fit tokenizer (25,000 reviews)", "unit": "reviews/s", **measure(fit, repeats)},
        {"what": "encode 50,000 reviews", "unit": "reviews/s", **measure(encode, repeats)},
    ]
    with tempfile.TemporaryDirectory() as cache:
        def setup():
            start = time.perf_counter()
            SentimentDataModule(path=str(imdb), cache_dir=cache, val_on_test=True).setup("fit")
            return time.perf_counter() - start

        rows.append({"what": "DataModule setup, first (tokenize + cache)", "unit": "s", **summary([setup()])})
        rows.append({"what": "DataModule setup, cached", "unit": "s", **measure(setup, repeats)})
    return rows


# --- classifier training --------------------------------------------------------------------
class BatchClock(L.Callback):
    """Times batches `warmup`… to the end: the whole Lightning step, data loading included."""

    def __init__(self, warmup: int):
        self.warmup, self.start, self.items = warmup, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.start = time.perf_counter()
        if batch_idx >= self.warmup:
            self.items += len(batch["labels"]) if "labels" in batch else batch["targets"].numel()

    def on_train_end(self, trainer, pl_module):
        self.seconds = time.perf_counter() - self.start


def lightning_rate(cfg, module, datamodule, warmup: int, steps: int) -> float:
    clock = BatchClock(warmup)
    trainer = instantiate(
        cfg.trainer, max_steps=warmup + steps, max_epochs=1, limit_val_batches=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[clock],
    )
    trainer.fit(module, datamodule=datamodule)
    return clock.items / clock.seconds


def plain_rate(module, datamodule, warmup: int, steps: int, loss_fn) -> float:
    """The same network, batches and optimizer in a hand-written loop."""
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True)
    module.train()
    items, start = 0, None
    for i, batch in enumerate(datamodule.train_dataloader()):
        if i == warmup:
            start = time.perf_counter()
        if i == warmup + steps:
            break
        optimizer.zero_grad(set_to_none=True)
        loss_fn(module, batch).backward()
        optimizer.step()
        if i >= warmup:
            items += len(batch["labels"]) if "labels" in batch else batch["targets"].numel()
    return items / (time.perf_counter() - start)


def classifier_loss(module, batch):
    return F.binary_cross_entropy_with_logits(module(batch["tokens"], batch.get("lengths")), batch["labels"])


def matmul_rate() -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    return 10 * 2 * 2048**3 / (time.perf_counter() - start)


def classifier_flops_per_review(net, length: int) -> float:
    """Multiply-adds ×2 of the forward pass, ×3 for forward plus backward."""
    rnn = net.rnn
    steps = length // net.pool_size if net.conv is not None else length
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[type(rnn).__name__]
    recurrent = 2 * steps * gates * rnn.hidden_size * (rnn.input_size + rnn.hidden_size)
    conv = 0
    if net.conv is not None:
        layer = net.conv[0]
        conv = 2 * length * layer.in_channels * layer.out_channels * layer.kernel_size[0]
    return 3 * (recurrent + conv)


def bench_classifiers(imdb: Path, cache: str, warmup: int, steps: int, repeats: int, peak: float) -> list[dict]:
    rows = []
    for model in ("elman", "lstm", "conv_lstm"):
        for batching in ("fixed", "bucket"):
            cfg, datamodule, fresh = prepared("train", [
                "experiment=tutorial", f"model={model}", f"data.batching={batching}", f"data.path={imdb}",
                f"data.cache_dir={cache}"])
            lightning = measure(lambda: lightning_rate(cfg, fresh(), datamodule, warmup, steps), repeats)
            plain = measure(lambda: plain_rate(fresh(), datamodule, warmup, steps, classifier_loss), repeats)
            mean_length = float(datamodule.datasets["train"].lengths.float().mean())
            length = 500 if batching == "fixed" else mean_length
            floor = peak / classifier_flops_per_review(fresh().net, int(length))
            rows.append({
                "model": model, "batching": batching, "lightning": lightning, "plain": plain,
                "lightning/plain": lightning["median"] / plain["median"],
                "keras_tf": KERAS_REVIEWS_PER_S[model],
                "vs_keras": lightning["median"] / KERAS_REVIEWS_PER_S[model],
                "floor": floor, "s_per_epoch": 25000 / lightning["median"],
            })
            print(f"  train {model}/{batching}: lightning {shown(lightning)} plain {shown(plain)} reviews/s", flush=True)
    return rows


@torch.no_grad()
def bench_eval(imdb: Path, cache: str, repeats: int, batches: int = 20) -> list[dict]:
    rows = []
    for batching in ("fixed", "bucket"):
        _, datamodule, fresh = prepared("train", [
            "experiment=tutorial", "model=lstm", f"data.batching={batching}", f"data.path={imdb}",
            f"data.cache_dir={cache}"])
        module = fresh().eval()

        def run():
            items, start = 0, time.perf_counter()
            for i, batch in enumerate(datamodule.test_dataloader()):
                if i == batches:
                    break
                module(batch["tokens"], batch.get("lengths"))
                items += len(batch["labels"])
            return items / (time.perf_counter() - start)

        rows.append({"what": f"evaluate LSTM, {batching}", "unit": "reviews/s", **measure(run, repeats)})
    return rows


def bench_bidirectional(imdb: Path, cache: str, repeats: int, batches: int = 3) -> list[dict]:
    """A training step of the imdb_tuned BiLSTM's recurrent layer: the package's two LSTMs over
    reversed texts against PyTorch's packed `bidirectional=True` LSTM, same bucketed batches."""
    _, datamodule, fresh = prepared("train", [
        "experiment=imdb_tuned", "model=lstm", "model.net.bidirectional=true", f"data.path={imdb}",
        f"data.cache_dir={cache}"])
    net = fresh().net
    packed_lstm = nn.LSTM(net.embedding.embedding_dim, net.hidden_size, batch_first=True, bidirectional=True)
    loader = iter(datamodule.train_dataloader())
    sample = [next(loader) for _ in range(batches)]

    def reversed_texts(batch):
        return net.rnn(net.embedding(batch["tokens"]), batch["lengths"])

    def packed(batch):
        x = pack_padded_sequence(net.embedding(batch["tokens"]), batch["lengths"], batch_first=True,
                                 enforce_sorted=False)
        return packed_lstm(x)[0].data

    def rate(step):
        def run():
            start = time.perf_counter()
            for batch in sample:
                step(batch).sum().backward()
            return sum(len(b["labels"]) for b in sample) / (time.perf_counter() - start)
        return run

    baseline = measure(rate(packed), repeats)
    ours = measure(rate(reversed_texts), repeats)
    return [
        {"what": "train BiLSTM layer, packed bidirectional=True", "unit": "reviews/s", **baseline},
        {"what": "train BiLSTM layer, package (reversed texts)", "unit": "reviews/s", **ours,
         "speedup": ours["median"] / baseline["median"]},
    ]


# --- language model ---------------------------------------------------------------------------
def lm_loss(module, batch):
    logits, _ = module(batch["tokens"])
    return F.cross_entropy(logits.flatten(0, 1), batch["targets"].flatten())


def bench_lm(moby: Path, cache: str, warmup: int, steps: int, repeats: int) -> list[dict]:
    rows = []
    for preset in ("lm_tutorial", "lm_tuned"):
        cfg, datamodule, fresh = prepared("lm", [f"experiment={preset}", f"data.path={moby}",
                                                 f"data.cache_dir={cache}"])
        lightning = measure(lambda: lightning_rate(cfg, fresh(), datamodule, warmup, steps), repeats)
        plain = measure(lambda: plain_rate(fresh(), datamodule, warmup, steps, lm_loss), repeats)
        words = len(datamodule.ids["train"])
        rows.append({"what": f"train LM, {preset} (seq_len {cfg.data.seq_len})", "lightning": lightning,
                     "plain": plain, "s_per_epoch": words / lightning["median"]})
        print(f"  lm {preset}: lightning {shown(lightning)} plain {shown(plain)} words/s", flush=True)
    return rows


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


def bench_generate(moby: Path, cache: str, repeats: int, n_words: int = 200) -> list[dict]:
    datamodule = LanguageModelDataModule(path=str(moby), cache_dir=cache)
    datamodule.setup("fit")
    module = LanguageModel(datamodule.vocab_size, {}).eval()
    tokenizer = datamodule.tokenizer
    word_index = {w: i for i, w in enumerate(tokenizer.id_to_word)}
    rng = np.random.default_rng(0)

    def ours(samples: int):
        def run():
            start = time.perf_counter()
            generate(module.net, tokenizer.token_ids(["ship"]), n_words, num_samples=samples,
                     generator=torch.Generator().manual_seed(0))
            return samples * n_words / (time.perf_counter() - start)
        return run

    def theirs():
        start = time.perf_counter()
        tutorial_sample(module.net, word_index, "ship", n_words, 1.0, rng)
        return n_words / (time.perf_counter() - start)

    def theirs_without_onednn():
        with without_onednn():
            return theirs()

    baseline = measure(theirs, repeats)
    baseline_fast_kernel = measure(theirs_without_onednn, repeats)
    one = measure(ours(1), repeats)
    batch = measure(ours(64), repeats)
    return [
        {"what": "generate, tutorial algorithm", "unit": "words/s", **baseline},
        {"what": "generate, tutorial algorithm, oneDNN off", "unit": "words/s", **baseline_fast_kernel,
         "speedup": baseline_fast_kernel["median"] / baseline["median"]},
        {"what": "generate, package, 1 sample", "unit": "words/s", **one,
         "speedup": one["median"] / baseline["median"]},
        {"what": "generate, package, 64 samples as a batch", "unit": "words/s", **batch,
         "speedup": batch["median"] / baseline["median"]},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imdb", type=Path, default=ROOT.parent / "shared/data/imdb")
    parser.add_argument("--moby", type=Path, default=ROOT.parent / "shared/data/moby_dick.txt")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="tokenize,train,eval,bidirectional,lm,generate")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/throughput.json")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    cache = os.environ.get("RNN_LIGHTNING_CACHE") or tempfile.mkdtemp()
    torch.set_float32_matmul_precision("high")
    results = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    peak = matmul_rate()
    results["matmul_gflops"] = peak / 1e9
    if "tokenize" in parts:
        results["tokenize"] = bench_tokenize(args.imdb, args.repeats)
    if "train" in parts:
        results["train"] = bench_classifiers(args.imdb, cache, args.warmup, args.steps, args.repeats, peak)
    if "eval" in parts:
        results["eval"] = bench_eval(args.imdb, cache, args.repeats)
    if "bidirectional" in parts:
        results["bidirectional"] = bench_bidirectional(args.imdb, cache, args.repeats)
    if "lm" in parts:
        results["lm"] = bench_lm(args.moby, cache, args.warmup, args.steps, args.repeats)
    if "generate" in parts:
        results["generate"] = bench_generate(args.moby, cache, args.repeats)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print_tables(results)


def print_tables(results: dict) -> None:
    print(f"\ntorch {results['torch']}, {results['threads']} threads, matmul {results['matmul_gflops']:.0f} GFLOP/s")
    if "train" in results:
        print("\n| model | batching | Lightning reviews/s | plain loop reviews/s | Lightning/plain | Keras-TF reviews/s "
              "| vs Keras | floor reviews/s | s/epoch (Lightning) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in results["train"]:
            print(f"| {r['model']} | {r['batching']} | {shown(r['lightning'])} | {shown(r['plain'])} | "
                  f"{r['lightning/plain']:.2f} | {r['keras_tf']:,} | {r['vs_keras']:.2f}× | {r['floor']:,.0f} | "
                  f"{r['s_per_epoch']:.0f} |")
    if "lm" in results:
        print("\n| language model | Lightning words/s | plain loop words/s | s/epoch (Lightning) |")
        print("|---|---|---|---|")
        for r in results["lm"]:
            print(f"| {r['what']} | {shown(r['lightning'])} | {shown(r['plain'])} | {r['s_per_epoch']:.0f} |")
        print(f"(Keras-TF, tutorial pairs: {KERAS_LM_PAIRS_PER_S:,.0f} pairs/s)")
    rows = results.get("tokenize", []) + results.get("eval", []) + results.get("bidirectional", [])
    rows += results.get("generate", [])
    if rows:
        print("\n| measurement | value | unit | speed-up |")
        print("|---|---|---|---|")
        for r in rows:
            digits = 2 if r["unit"] == "s" else 0
            speedup = f"{r['speedup']:.0f}×" if "speedup" in r else ""
            print(f"| {r['what']} | {shown(r, digits)} | {r['unit']} | {speedup} |")


if __name__ == "__main__":
    main()
