import os

# Two test workers share two cores: one thread each, so that a busy neighbour does not stall OpenMP's
# spin-waiting threads (docs/performance.md: shared cores). Set before torch is imported anywhere.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import contextlib  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest.mock import patch  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOISE = "the a movie film was it and of to this story actor scene plot".split()
POSITIVE, NEGATIVE = ["great", "wonderful", "superb"], ["awful", "boring", "dreadful"]


def sentiment_frame(n: int, seed: int) -> pd.DataFrame:
    """Reviews whose label is carried by one sentiment word among noise words."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = [rng.choice(NOISE) for _ in range(rng.randint(3, 12))]
        for _ in range(2):
            words.insert(rng.randrange(len(words) + 1), rng.choice(POSITIVE if label else NEGATIVE))
        rows.append({"text": " ".join(words).capitalize() + ".<br />Really!", "label": label})
    return pd.DataFrame(rows)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_LIGHTNING_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def tiny_imdb(folder: Path, train_rows: int = 320, test_rows: int = 120) -> Path:
    """`folder` made a tiny IMDB: train.parquet and test.parquet of `sentiment_frame` reviews."""
    folder.mkdir(parents=True)
    sentiment_frame(train_rows, seed=1).to_parquet(folder / "train.parquet")
    sentiment_frame(test_rows, seed=2).to_parquet(folder / "test.parquet")
    return folder


@pytest.fixture
def imdb_dir(tmp_path) -> Path:
    return tiny_imdb(tmp_path / "imdb")


@pytest.fixture
def moby_file(tmp_path) -> Path:
    file = tmp_path / "moby.txt"
    file.write_text("\n".join(["Call me Ishmael. The ship sailed, and the whale swam under the ship!"] * 300))
    return file


def compose_config(name: str, tmp_path: Path, overrides: list[str]):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose(
            name,
            overrides=[f"paths.output_dir={tmp_path / 'run'}", f"paths.log_dir={tmp_path}", *overrides],
        )


def run_module(module: str, *args: str, cwd: Path | None = None, timeout: int = 300, warnings: bool = False,
               preexec_fn=None) -> subprocess.CompletedProcess:
    # tests/ on the path lets a run load the tests' helper callbacks (tests/helpers.py)
    python_path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": python_path, **({} if warnings else {"PYTHONWARNINGS": "ignore"})}
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, cwd=cwd or ROOT, env=env,
        timeout=timeout, preexec_fn=preexec_fn,
    )


HYDRAS_OWN = (OverrideParseException, ConfigCompositionException, MissingConfigException)


def run_in_process(module: str, arguments: list[str], cwd: Path) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `python -m module arguments…`, run in this process from `cwd`
    (seconds sooner than a new Python). Hydra's own error about an override (exit status 1 on a
    command line) comes back as status 1 with its message; any other exception propagates, as the
    traceback a user would see."""
    cwd.mkdir(parents=True, exist_ok=True)
    before, out, err = os.getcwd(), io.StringIO(), io.StringIO()
    os.chdir(cwd)
    # Hydra's logging set-up (dictConfig) would close pytest's log-capturing handlers, for every later test
    with patch.object(sys, "argv", [module, *arguments]), patch.dict(os.environ, {"HYDRA_FULL_ERROR": "1"}), \
            patch("hydra._internal.logging_config.configure_logging"), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            importlib.import_module(module).main()
            status = 0
        except SystemExit as stop:
            status = stop.code or 0
        except HYDRAS_OWN as error:
            status = 1
            print(error, file=err)
        finally:
            GlobalHydra.instance().clear()
            HydraConfig.instance().cfg = None
            os.chdir(before)
    return status, out.getvalue(), err.getvalue()


def run_here(module: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`run_module`'s result from `run_in_process` (from a fresh temporary folder unless `cwd` is given):
    for a test of what an entry point prints or how it exits, where a new Python adds only seconds."""
    status, out, err = run_in_process(module, list(args), cwd or Path(tempfile.mkdtemp()))
    return subprocess.CompletedProcess([module, *args], status, out, err)


# Tiny-training overrides, the one definition the tests share: QUICK_TRAINING fits either model and keeps the
# logger; QUICK is a tiny classifier run without one.
QUICK_TRAINING = ["trainer.max_epochs=2", "trainer.enable_progress_bar=false", "~callbacks.model_summary"]
QUICK = [*QUICK_TRAINING, "data.batch_size=16", "data.max_len=40", "~logger"]


@pytest.fixture(scope="session")
def lm_checkpoint(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("lm")
    text = tmp_path / "moby.txt"
    text.write_text("\n".join(["Call me Ishmael. The ship sailed, and the whale swam under the ship!"] * 300))
    cfg = compose_config(
        "lm", tmp_path,
        [f"data.path={text}", f"paths.cache_dir={tmp_path / 'cache'}", "data.seq_len=8", "data.stateful=true",
         "data.batch_size=8", "data.eval_batch_size=4", "model.net.embed_dim=32", "model.net.hidden_size=32", *QUICK_TRAINING,
         "trainer.max_epochs=3", "model.lr=0.01"],
    )
    from rnn_sentiment.core.training import train

    train(cfg)
    return tmp_path / "run"


def predicted_rows(stdout: str) -> list[tuple[float, str, str]]:
    """(probability, label, text) of each row of predict's printed table."""
    header, *rows = stdout.strip().splitlines()
    assert header.split("\t") in (["p_positive", "label", "text"], ["p", "label", "text"]), header
    return [(float(p), label, text) for p, label, text in (row.split("\t") for row in rows)]


def checkpoint_prediction(ckpt_path: Path, text: str) -> tuple[float, str]:
    """p_positive and the class name the checkpoint gives `text`, computed in this process through
    `explain`'s own batch (not predict's reader and batches)."""
    from rnn_sentiment.core.checkpoints import load_module
    from rnn_sentiment.prediction.explanation import word_attributions
    from rnn_sentiment.module import SentimentClassifier

    module = load_module(str(ckpt_path), SentimentClassifier, "sentiment")
    _, probability, _ = word_attributions(module, text)
    return probability, module.preprocessing.label_names[int(probability >= 0.5)]
