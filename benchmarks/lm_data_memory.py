"""Peak memory and time of the language model's data pipeline on a big generated text.

python benchmarks/lm_data_memory.py [--megabytes 100] [--seq-len 1] [--batch-size 64]

Writes a text of words drawn from a 5,000-word vocabulary (Zipf-like frequencies, lines of 0-20
words) into a temporary folder, sets up `LanguageModelDataModule` on it with a cold cache, then
iterates the train loader once. Prints the setup and pass times, the ids' size, and the peak
resident memory of the process (ru_maxrss) after setup and after the pass, next to the resident
memory before setup (imports: torch, Lightning, datasets).
"""

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from lm.data import LanguageModelDataModule


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def peak_resident_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def write_text(file: Path, megabytes: int, seed: int = 0) -> None:
    """About `megabytes` MB of text, written a block of lines at a time."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(5000)])
    weights = 1 / np.arange(1, 5001)
    weights /= weights.sum()
    with open(file, "w") as out:
        while out.tell() < megabytes * 2**20:
            lengths = rng.integers(0, 21, size=10_000)
            words = vocabulary[rng.choice(5000, size=int(lengths.sum()), p=weights)].tolist()
            ends = np.cumsum(lengths).tolist()
            out.write("\n".join(" ".join(words[end - n : end]) for n, end in zip(lengths.tolist(), ends)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--seq-len", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        text = Path(folder) / "big.txt"
        write_text(text, args.megabytes)
        datamodule = LanguageModelDataModule(
            path=str(text), seq_len=args.seq_len, batch_size=args.batch_size, cache_dir=f"{folder}/cache"
        )
        before = resident_mb()
        start = time.perf_counter()
        datamodule.setup("fit")
        setup_s = time.perf_counter() - start
        setup_peak = peak_resident_mb()
        start = time.perf_counter()
        batches = sum(1 for _ in datamodule.train_dataloader())
        pass_s = time.perf_counter() - start
        ids_mb = sum(ids.nbytes for ids in datamodule.ids.values()) / 2**20
        words = sum(len(ids) for ids in datamodule.ids.values())
        print(
            f"text {text.stat().st_size / 2**20:.0f} MB, {words:,} words (ids {ids_mb:.0f} MB int32); "
            f"setup {setup_s:.0f} s; one train pass ({batches:,} batches) {pass_s:.0f} s; "
            f"resident {before:.0f} MB before setup, peak {setup_peak:.0f} MB after setup, {peak_resident_mb():.0f} MB "
            "after the pass"
        )


if __name__ == "__main__":
    main()
