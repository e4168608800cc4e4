import importlib.util
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from conftest import QUICK, compose_config
from rnn_sentiment.core.training import train

pytestmark = pytest.mark.slow  # every test trains or reads the session's trained language model


def tags_by_plugin(log_dir: Path) -> dict[str, set[str]]:
    found = defaultdict(set)
    for events in log_dir.glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(events)).Load():
            for value in event.summary.value:
                found[value.metadata.plugin_data.plugin_name or "scalars"].add(value.tag)
    return found


def projector_words(log_dir: Path) -> list[str]:
    (metadata,) = log_dir.glob("*/word_embeddings/metadata.tsv")
    assert (log_dir / "projector_config.pbtxt").exists()
    return metadata.read_text().split()


def test_classifier_run_is_inspectable_in_tensorboard(tmp_path, imdb_dir):
    overrides = [o for o in QUICK if o != "~logger"]
    train(compose_config("train", tmp_path, ["model=lstm", f"data.path={imdb_dir}", *overrides]))
    log_dir = tmp_path / "run" / "tensorboard"
    tags = tags_by_plugin(log_dir)
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "test/loss", "test/acc", "lr-Adam",
            "hp_metric"} <= tags["scalars"]
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= tags["hparams"]
    assert "test/pr_curve" in tags["pr_curves"]
    assert "test/confusion_matrix" in tags["images"]
    words = projector_words(log_dir)
    assert words[:2] == ["really", "the"] or "really" in words[:5]


def test_language_model_run_logs_samples_and_embeddings(lm_checkpoint):
    log_dir = lm_checkpoint / "tensorboard"
    tags = tags_by_plugin(log_dir)
    assert {"train/loss", "val/loss", "val/ppl", "test/ppl", "hp_metric"} <= tags["scalars"]
    assert "samples/temperature_1/text_summary" in tags["text"]
    assert "ship" in projector_words(log_dir)


WRITE_AND_READ = """
import sys
from lightning.pytorch.loggers import TensorBoardLogger
from rnn_sentiment.core.plots import logged_scalars
logger = TensorBoardLogger(sys.argv[1], name="tensorboard", version="")
logger.log_metrics({"val/acc": 0.75}, step=3)
logger.finalize("success")
print(dict(logged_scalars(__import__("pathlib").Path(sys.argv[1]))["val/acc"]), "tensorflow" in sys.modules)
"""


def test_event_files_are_written_and_read_without_importing_tensorflow(tmp_path):
    """TensorFlow is installed here (the dev extra's Keras parity); importing it would cost every run ~4 s."""
    assert importlib.util.find_spec("tensorflow") is not None
    result = subprocess.run([sys.executable, "-c", WRITE_AND_READ, str(tmp_path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["{3:", "0.75}", "False"]
