"""DDP counts every evaluation example exactly once: under `trainer=ddp_cpu` (2 processes, gloo) the
validation and test metrics, PR curve and confusion matrix equal the single-process ones."""

import contextlib
import json
import random
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.util import tensor_util

from conftest import NEGATIVE, NOISE, POSITIVE, QUICK, QUICK_TRAINING, compose_config, run_module, sentiment_frame
from evaluate_checkpoint import evaluate
from lm.data import Streams, Windows
from rnn_sentiment.core.batching import BatchIndexSampler
from rnn_sentiment.core.distributed import gather_uneven, process_group_closed_at_end
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.training import instantiate_config, train


def shards(sampler: BatchIndexSampler, world: int, monkeypatch) -> list[list[list[int]]]:
    """The batches each of `world` ranks draws, as if torch.distributed were running."""
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda: world)
    drawn = []
    for rank in range(world):
        monkeypatch.setattr(dist, "get_rank", lambda rank=rank: rank)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        drawn.append(batches)
    return drawn


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_eval_shards_hold_every_row_once_and_training_shards_are_even(monkeypatch, world):
    for rows, batch_size in ((world, 1), (7, 3), (13, 4), (64, 16), (101, 8)):
        lengths = torch.randint(1, 50, (rows,), generator=torch.Generator().manual_seed(rows))
        batches = -(-rows // batch_size)
        for by_length in (False, True):
            evaluation = BatchIndexSampler(lengths, batch_size, shuffle=False, by_length=by_length, even_shards=False)
            drawn = shards(evaluation, world, monkeypatch)
            assert sorted(i for part in drawn for batch in part for i in batch) == list(range(rows))
            assert all(0 < len(batch) <= batch_size for part in drawn for batch in part)

            training = BatchIndexSampler(lengths, batch_size, shuffle=True, by_length=by_length, seed=1)
            drawn = shards(training, world, monkeypatch)
            assert len({len(part) for part in drawn}) == 1  # the same number of steps on every rank
            assert {i for part in drawn for batch in part for i in batch} == set(range(rows))
            assert batches <= sum(map(len, drawn)) <= batches + world - 1  # up to world-1 repeated batches


def test_an_eval_split_smaller_than_the_world_is_a_clear_error(monkeypatch):
    sampler = BatchIndexSampler(torch.ones(2), 4, shuffle=False, by_length=False, even_shards=False)
    with pytest.raises(UserInputError, match="2 rows .* 3 DDP processes"):
        shards(sampler, 3, monkeypatch)


@pytest.mark.parametrize("world", [2, 3])
def test_eval_streams_are_the_single_process_streams_shared_among_ranks(world):
    ids = torch.arange(50)
    whole = Streams(ids, streams=5, seq_len=4)
    parts = [Streams(ids, streams=5, seq_len=4, rank=rank, world=world) for rank in range(world)]
    assert torch.equal(torch.cat([part.inputs for part in parts]), whole.inputs)
    assert torch.equal(torch.cat([part.targets for part in parts]), whole.targets)
    assert {len(part) for part in parts} == {len(whole)}  # BPTT: the same batches on every rank
    with pytest.raises(UserInputError, match="data.eval_batch_size"):
        Streams(ids, streams=2, seq_len=4, rank=0, world=3)


def tensorboard_values(log_dir: Path) -> dict:
    """The PR curve (counts, precision, recall per threshold) and the confusion matrix (PNG bytes)."""
    found = {}
    for events in log_dir.glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(events)).Load():
            for value in event.summary.value:
                if value.tag == "test/pr_curve":
                    found[value.tag] = tensor_util.make_ndarray(value.tensor)
                elif value.tag == "test/confusion_matrix":
                    found[value.tag] = value.image.encoded_image_string
    return found


def evaluate_with_one_and_two_processes(tmp_path: Path, primary: str, checkpoint: Path, options: list[str]):
    evaluate(primary, str(checkpoint), tmp_path / "one", options)
    result = run_module("evaluate_checkpoint", primary, str(checkpoint), str(tmp_path / "two"), *options,
                        "trainer=ddp_cpu", timeout=400)
    assert result.returncode == 0, result.stderr
    one, two = (json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("one", "two"))
    assert (one.pop("world_size"), two.pop("world_size")) == (1, 2)
    assert one.keys() == two.keys()
    for key in one:
        assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-6), key
    return one


@pytest.mark.slow
def test_classifier_validation_and_test_under_ddp_equal_one_process(tmp_path):
    data = tmp_path / "imdb"
    data.mkdir()
    sentiment_frame(170, seed=1).to_parquet(data / "train.parquet")  # validation: 17 of them
    sentiment_frame(97, seed=2).to_parquet(data / "test.parquet")
    # 97 test rows: 49 + 48 on 2 ranks, 7 and 6 batches of at most 8; validation 9 + 8, 2 and 1 batches
    options = [f"data.path={data}", "data.eval_batch_size=8", "data.max_len=40", "model.net.hidden_size=16"]
    train(compose_config("train", tmp_path, [*options, *QUICK, "trainer.max_epochs=1", "test=false"]))
    metrics = evaluate_with_one_and_two_processes(tmp_path, "train", tmp_path / "run" / "checkpoints" / "last.ckpt",
                                                  options)
    assert {"val/loss", "val/acc", "val/auroc", "test/loss", "test/acc", "test/f1", "test/auroc"} <= metrics.keys()

    one, two = (tensorboard_values(tmp_path / run / "tensorboard") for run in ("one", "two"))
    assert one.keys() == two.keys() == {"test/pr_curve", "test/confusion_matrix"}
    true_positives, false_positives, true_negatives, false_negatives = one["test/pr_curve"][:4, 0]
    assert true_positives + false_positives + true_negatives + false_negatives == 97  # every review once
    np.testing.assert_array_equal(two["test/pr_curve"], one["test/pr_curve"])
    assert two["test/confusion_matrix"] == one["test/confusion_matrix"]


def lm_options(folder: Path) -> list[str]:
    return [f"data.path={folder / 'words.txt'}", f"paths.cache_dir={folder / 'cache'}", "data.seq_len=7",
            "data.eval_batch_size=7", "model.net.embed_dim=16", "model.net.hidden_size=16"]


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory) -> Path:
    """A language model briefly trained on random words, so that every window's loss differs."""
    tmp_path = tmp_path_factory.mktemp("lm")
    rng = random.Random(0)
    words = NOISE + POSITIVE + NEGATIVE
    lines = (" ".join(rng.choices(words, k=rng.randint(3, 15))) for _ in range(429))
    (tmp_path / "words.txt").write_text("\n".join(lines))
    quick = [*QUICK_TRAINING, "data.batch_size=16", "~logger"]
    train(compose_config("lm", tmp_path, [*lm_options(tmp_path), *quick, "trainer.max_epochs=1", "test=false"]))
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("stateful", [True, False])
def test_language_model_perplexity_under_ddp_equals_one_process(tmp_path, lm_run, stateful):
    options = [*lm_options(lm_run), f"data.stateful={stateful}"]
    datamodule = instantiate_config(compose_config("lm", tmp_path, options).data)
    datamodule.setup("fit")
    for name in ("val", "test"):  # awkward sizes: 29 or 27 windows in 5 or 4 batches of 7, 7 streams (3 + 4 rows)
        windows = len(Windows(datamodule.ids[name], 7))
        assert windows % 2 and windows % 7, (name, windows)
    metrics = evaluate_with_one_and_two_processes(tmp_path, "lm", lm_run / "run" / "checkpoints" / "last.ckpt",
                                                  options)
    assert {"val/loss", "val/ppl", "test/loss", "test/ppl"} <= metrics.keys()


class SimulatedRank:
    """A module on one of `world` ranks run as threads: `all_gather` is a real collective among the
    threads (each deposits its tensor, all wait, each gets them stacked in rank order) and, like
    Lightning's, needs the same shape on every rank."""

    def __init__(self, rank: int, world: int, shared: dict):
        self.rank, self.shared = rank, shared
        self.trainer = type("Trainer", (), {"world_size": world})()

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        barrier, slots = self.shared["barrier"], self.shared["slots"]
        slots[self.rank] = tensor.clone()
        barrier.wait()
        stacked = list(slots)
        barrier.wait()  # every rank has read before the next call overwrites a slot
        assert len({t.shape for t in stacked}) == 1, [t.shape for t in stacked]
        return torch.stack(stacked)


@pytest.mark.parametrize("sizes, trailing", [([3, 0, 2], ()), ([1, 4], (5,)), ([0, 0, 2, 1], (2, 3))])
def test_gather_uneven_concatenates_every_ranks_values_in_rank_order(sizes, trailing):
    world = len(sizes)
    values = [torch.arange(size * int(np.prod(trailing)), dtype=torch.float32).reshape(size, *trailing) + 100 * rank
              + 1 for rank, size in enumerate(sizes)]  # no zeros: padding left in would show
    shared = {"barrier": threading.Barrier(world), "slots": [None] * world}
    results = [None] * world

    def run(rank: int) -> None:
        results[rank] = gather_uneven(SimulatedRank(rank, world, shared), values[rank])

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(world)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    expected = torch.cat(values)
    for result in results:
        assert result is not None and torch.equal(result, expected)


def test_gather_uneven_on_one_process_returns_the_values_themselves():
    values = torch.randn(4, 2)
    assert gather_uneven(SimulatedRank(0, 1, {}), values) is values


@pytest.mark.parametrize("fails", [False, True])
def test_the_process_group_a_run_opened_is_closed_when_it_ends(tmp_path, fails):
    """An open Gloo group can abort the process at exit, and Lightning then kills the finished run's ranks."""
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
        with process_group_closed_at_end():
            dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
            assert dist.is_initialized()
            if fails:
                raise RuntimeError("the run failed")
    assert not dist.is_initialized()
