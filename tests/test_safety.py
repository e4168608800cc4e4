"""Loading never runs code from a file; files written side by side or cut short never corrupt a result."""

import json
import os
import shlex
import threading
import time
import urllib.request
from io import BytesIO
from pathlib import Path

import pytest
import torch

from conftest import QUICK, QUICK_TRAINING, compose_config, run_module
from lm.data import LanguageModelDataModule
from rnn_sentiment.core import cache
from rnn_sentiment.core.files import write_text_atomically
from rnn_sentiment.data import SentimentDataModule


class Exploit:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def poisoned_checkpoint(path: Path, marker: Path, task: str = "sentiment") -> Path:
    """Shaped like an rnn-lightning checkpoint, so an unsafe loader would go on to use it."""
    torch.save({"preprocessing": {"task": task}, "hyper_parameters": {"vocab_size": 10}, "state_dict": {},
                "callbacks": {"payload": Exploit(marker)}}, path)
    return path


def assert_refused(result, marker: Path, file: Path) -> None:
    assert not marker.exists(), "the checkpoint's code ran"
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: ckpt_path={file}: not a safe checkpoint: it needs posix.system"), last
    assert "nothing in it ran" in last and "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("module, option", [("rnn_sentiment.predict", "text=fine"), ("lm.generate", "seed_text=ship")])
def test_predict_and_generate_refuse_a_checkpoint_that_would_run_code(tmp_path, module, option):
    marker = tmp_path / "pwned"
    evil = poisoned_checkpoint(tmp_path / "evil.ckpt", marker, "lm" if module.startswith("lm") else "sentiment")
    assert_refused(run_module(module, f"ckpt_path={evil}", option), marker, evil)


@pytest.mark.slow
def test_resume_refuses_a_checkpoint_that_would_run_code_before_the_run_starts(tmp_path, imdb_dir, monkeypatch):
    # torch < 2.6 (allowed by the package's torch range) loads with weights_only=False unless told otherwise
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    evil = poisoned_checkpoint(tmp_path / "evil.ckpt", marker)
    run = tmp_path / "run"
    result = run_module("rnn_sentiment.train", f"data.path={imdb_dir}", f"hydra.run.dir={run}", *QUICK,
                        f"ckpt_path={evil}")
    assert_refused(result, marker, evil)
    assert not (run / "run_info.json").exists() and not (run / "checkpoints").exists()


def sentiment_data(imdb_dir: Path, cache: Path) -> SentimentDataModule:
    return SentimentDataModule(path=str(imdb_dir), max_len=40, cache_dir=str(cache))


def test_a_poisoned_cache_file_is_refused_and_rebuilt(tmp_path, imdb_dir, capsys):
    datamodule = sentiment_data(imdb_dir, tmp_path / "cache")
    marker = tmp_path / "pwned"
    file = datamodule.cache_file()
    file.parent.mkdir(parents=True)
    torch.save({"tokenizer": Exploit(marker)}, file)
    datamodule.setup("fit")
    assert not marker.exists(), "the cache file's code ran"
    assert f"note: rebuilding the tokenized-data cache {file}: it holds objects beyond" in capsys.readouterr().err
    assert datamodule.vocab_size > 3 and len(datamodule.datasets["train"]) > 0
    torch.load(file, weights_only=True)  # the rebuilt file is plain


def truncate(file: Path) -> None:
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def flip_a_token_id(file: Path) -> None:
    """Corrupts one stored token id: the file still loads, its data is wrong."""
    ids = torch.load(file, weights_only=True)["state"]["train"]["flat"].numpy().tobytes()[:64]
    data = bytearray(file.read_bytes())
    at = data.index(ids) + 32
    data[at] ^= 0xFF
    file.write_bytes(bytes(data))


def from_another_version(file: Path) -> None:
    """A sound file (its checksum matches) of another cache format whose data differ: read as it is,
    it would give wrong data silently."""
    stored = torch.load(file, weights_only=True)
    stored["state"]["train"]["flat"][:5] = 1
    stored["format"] = cache.FORMAT - 1
    stored["digest"] = cache.digest(cache._convert(stored["state"], torch.Tensor, torch.Tensor.numpy))
    torch.save(stored, file)


@pytest.mark.parametrize("damage, why", [
    (truncate, "it is truncated or corrupt"), (flip_a_token_id, "its contents do not match its checksum"),
    (from_another_version, "it was written by another version of rnn-lightning"),
])
def test_a_damaged_cache_file_is_detected_and_rebuilt_to_the_same_data(tmp_path, imdb_dir, capsys, damage, why):
    first = sentiment_data(imdb_dir, tmp_path / "cache")
    first.setup("fit")
    assert "note:" not in capsys.readouterr().err
    damage(first.cache_file())
    killed_writer = first.cache_file().with_name(f".{first.cache_file().name}.0123456789abcdef.tmp")
    killed_writer.write_bytes(b"half a cache")
    second = sentiment_data(imdb_dir, tmp_path / "cache")
    second.setup("fit")
    assert not killed_writer.exists()
    note = f"note: rebuilding the tokenized-data cache {first.cache_file()}: {why}\n"
    assert capsys.readouterr().err.startswith(note)  # one line, then the rebuild's progress bars
    for split in ("train", "val", "test"):
        assert torch.equal(first.datasets[split].matrix, second.datasets[split].matrix)
    third = sentiment_data(imdb_dir, tmp_path / "cache")
    third.setup("fit")  # the rebuilt file is sound
    assert "note:" not in capsys.readouterr().err


def test_concurrent_jobs_on_a_cold_cache_build_it_once_and_read_the_same_data(tmp_path, imdb_dir, monkeypatch):
    builds = []
    real_build = SentimentDataModule.build

    def slow_build(self):
        builds.append(threading.get_ident())
        time.sleep(0.5)  # long enough for the other job to arrive while this one builds
        return real_build(self)

    monkeypatch.setattr(SentimentDataModule, "build", slow_build)
    jobs = [sentiment_data(imdb_dir, tmp_path / "cache") for _ in range(3)]
    threads = [threading.Thread(target=job.setup, args=("fit",)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert all(torch.equal(jobs[0].datasets["train"].matrix, job.datasets["train"].matrix) for job in jobs[1:])
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [jobs[0].cache_file().name,
                                                                      jobs[0].cache_file().name + ".lock"]


def test_writers_side_by_side_never_collide_and_a_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "metrics.json"
    texts = [f"{i}\n" * 2000 for i in range(8)]
    errors = []

    def write_many(text):
        try:
            for _ in range(25):
                write_text_atomically(target, text)
        except Exception as error:  # collected: an exception in a thread would not fail the test
            errors.append(error)

    threads = [threading.Thread(target=write_many, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and target.read_text() in texts

    from rnn_sentiment.core.files import open_atomically

    with pytest.raises(RuntimeError):
        with open_atomically(target) as file:
            file.write("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() in texts
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left behind


def test_moby_dick_downloads_side_by_side_land_whole_without_the_network(tmp_path, monkeypatch):
    book = ("Call me Ishmael. " * 2_000_000).encode()  # 34 MB: writing it takes a while
    arrived = threading.Barrier(2)

    def fake_urlopen(url, timeout):
        assert url == "https://example.org/moby.txt"
        arrived.wait(timeout=10)  # both jobs download at the same moment
        return BytesIO(book)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    jobs = [LanguageModelDataModule(url="https://example.org/moby.txt", cache_dir=str(tmp_path)) for _ in range(2)]
    texts, errors = [], []

    def read(job):
        try:
            texts.append(job._moby_dick().read_text())
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=read, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and texts == [book.decode()] * 2
    assert [p.name for p in tmp_path.iterdir()] == ["moby_dick.txt"]


@pytest.mark.slow
def test_every_file_the_package_writes_loads_with_weights_only(tmp_path, imdb_dir, moby_file):
    from rnn_sentiment.core.training import train

    classifier = compose_config("train", tmp_path / "classifier", [
        f"data.path={imdb_dir}", f"paths.cache_dir={tmp_path / 'cache'}", "checkpoint_every_n_steps=7", *QUICK,
        "trainer.max_epochs=1"])
    train(classifier)
    language_model = compose_config("lm", tmp_path / "lm", [
        f"data.path={moby_file}", f"paths.cache_dir={tmp_path / 'cache'}", "data.seq_len=8", "data.stateful=true",
        "data.batch_size=8", "data.eval_batch_size=4", "model.net.embed_dim=16", "model.net.hidden_size=16",
        "model.carry_state=true", "model.lr_decay=0.5", "checkpoint_every_n_steps=20", *QUICK_TRAINING, "~logger",
        "trainer.max_epochs=1"])
    train(language_model)

    names = {p.name for p in (tmp_path / "classifier" / "run" / "checkpoints").iterdir()}
    assert "last.ckpt" in names and any(n.startswith("best") for n in names) and any(n.startswith("step") for n in names)
    mid_epoch = []
    for file in (tmp_path / "classifier" / "run" / "checkpoints").iterdir():
        assert "preprocessing" in torch.load(file, weights_only=True)
    for file in (tmp_path / "lm" / "run" / "checkpoints").glob("step*.ckpt"):
        checkpoint = torch.load(file, weights_only=True)
        if not checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["is_last_batch"]:
            mid_epoch.append(checkpoint)
    assert mid_epoch and all(isinstance(c["carried_state"], tuple) for c in mid_epoch)
    caches = list((tmp_path / "cache").glob("*.pt"))
    assert len(caches) == 2
    for file in caches:
        torch.load(file, weights_only=True)


@pytest.mark.slow
def test_a_parallel_sweep_on_a_cold_cache_gives_both_jobs_the_same_data(tmp_path, imdb_dir):
    sweep, cache = tmp_path / "sweep", tmp_path / "cold-cache"
    result = run_module("rnn_sentiment.train", "-m", "hydra/launcher=local_parallel", "model.net.hidden_size=8,16",
                        f"data.path={imdb_dir}", f"hydra.sweep.dir={sweep}", f"paths.cache_dir={cache}",
                        *QUICK, "trainer.max_epochs=1")
    assert result.returncode == 0, result.stderr
    tokenizers = []
    for job in ("0", "1"):
        assert "test/acc" in json.loads((sweep / job / "metrics.json").read_text())
        tokenizers.append(torch.load(sweep / job / "checkpoints" / "last.ckpt", weights_only=True)
                          ["preprocessing"]["tokenizer"])
    (file,) = cache.glob("*.pt")
    assert sorted(p.name for p in cache.iterdir()) == [file.name, file.name + ".lock"]
    stored = torch.load(file, weights_only=True)
    assert tokenizers == [stored["state"]["tokenizer"]] * 2
