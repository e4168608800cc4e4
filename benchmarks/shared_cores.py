"""Training speed on idle and on shared cores: the default thread choice against fixed thread counts.

python benchmarks/shared_cores.py [--data ../shared/data/imdb] [--batches 60] [--model lstm]

Each row is one real training run, `python -m rnn_sentiment.train experiment=tutorial model=<model>`
limited to `--batches` training batches (one epoch, no validation or test), in a fresh process; its
speed is that epoch's batches over the epoch's own seconds (`metrics.json`'s `train_epoch_seconds`:
what a full epoch of the same setting measures per batch, start-up excluded). The thread settings:
the default (`callbacks.threads_from_idle_cores`: the cores other processes leave idle), and
`OMP_NUM_THREADS=1` and `=N` (N: this machine's cores), which fix the count. Each runs on idle cores,
then beside one competing process that keeps a core busy (a Python loop), as a browser, a CI
neighbour or another job would. The last column compares each setting with the best one in the
same condition.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def epoch_rate(data: str, model: str, batches: int, threads: int | None, folder: Path) -> float:
    """Training batches per second of one run, from its own epoch timer."""
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    run = folder / f"run-{threads}-{len(list(folder.iterdir()))}"
    command = [sys.executable, "-m", "rnn_sentiment.train", "experiment=tutorial", f"model={model}",
               f"data.path={data}", f"trainer.limit_train_batches={batches}", "trainer.max_epochs=1",
               "trainer.limit_val_batches=0", "test=false", "trainer.enable_progress_bar=false", "~logger",
               f"hydra.run.dir={run}"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    seconds = json.loads((run / "metrics.json").read_text())["train_epoch_seconds"][0]
    return batches / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/imdb")
    parser.add_argument("--model", default="lstm", help="elman, lstm or conv_lstm")
    parser.add_argument("--batches", type=int, default=60, help="training batches a run (of 64 reviews)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    settings = {"default (idle cores)": None, "OMP_NUM_THREADS=1": 1, f"OMP_NUM_THREADS={cores}": cores}
    print(f"experiment=tutorial model={args.model}, {args.batches} batches a run, {cores} cores")
    print(f"{'condition':<26} {'threads':<22} {'batches/s':>10} {'of best':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for condition in ("idle", "one busy competitor"):
            competitor = (subprocess.Popen([sys.executable, "-c", "while True: pass"])
                          if condition != "idle" else None)
            try:
                rates = {name: epoch_rate(args.data, args.model, args.batches, threads, Path(folder))
                         for name, threads in settings.items()}
            finally:
                if competitor is not None:
                    competitor.kill()
            best = max(rates.values())
            for name, rate in rates.items():
                print(f"{condition:<26} {name:<22} {rate:>10.2f} {rate / best:>7.0%}")


if __name__ == "__main__":
    main()
