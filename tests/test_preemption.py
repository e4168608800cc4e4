"""SIGTERM / SIGUSR1 mid-epoch: a checkpoint of the exact state, a clean exit, and a resume that ends
with the metrics of an uninterrupted run (classifier and stateful language model)."""

import json
import signal

import pytest

from conftest import QUICK, QUICK_TRAINING, run_module

pytestmark = pytest.mark.slow  # every test trains in subprocesses

CLASSIFIER = [*QUICK, "checkpoint_every_n_steps=1000"]  # 18 batches per epoch; no periodic checkpoint
LANGUAGE_MODEL = ["data.seq_len=5", "data.stateful=true", "data.batch_size=4", "data.eval_batch_size=2",
                  "model.net.embed_dim=16", "model.net.hidden_size=16", *QUICK_TRAINING,
                  "checkpoint_every_n_steps=1000", "~logger"]


def final_metrics(run_dir):
    """metrics.json without what differs between runs by nature: timings and the command line."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k not in ("train_epoch_seconds", "overrides")}


def interrupt_then_resume(module, run_dir, options, step, signal_name):
    """Runs `module` until it sends itself `signal_name` at `step`, checks the stop, resumes with ckpt_path=last."""
    stopped = run_module(module, f"hydra.run.dir={run_dir}", *options, "+callbacks.signal._target_=helpers.SignalAtStep",
                         f"+callbacks.signal.step={step}", f"+callbacks.signal.signal_name={signal_name}")
    signum = signal.Signals[signal_name]
    assert stopped.returncode == 128 + signum, stopped.stderr
    last_line = stopped.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"stopped by {signal_name} at global step {step + 1} "), last_line
    assert "ckpt_path=last" in last_line and f"exit status {128 + signum}" in last_line
    assert not (run_dir / "metrics.json").exists()  # an interrupted run does not look finished
    checkpoints = run_dir / "checkpoints"
    assert not [p for p in checkpoints.iterdir() if p.name.startswith(".")]  # no partial file left
    newest = max(checkpoints.glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    assert newest.name == "preempted.ckpt"
    state = __import__("torch").load(newest, map_location="cpu", weights_only=False)
    assert state["global_step"] == step + 1

    resumed = run_module(module, f"hydra.run.dir={run_dir}", *options, "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr
    return final_metrics(run_dir)


@pytest.mark.parametrize(
    ("signal_name", "step"),
    [("SIGTERM", 22),   # mid-epoch 2
     ("SIGUSR1", 17)],  # the last batch of epoch 1: its validation has not run yet
)
def test_preempted_classifier_resumes_to_the_same_metrics(tmp_path, imdb_dir, signal_name, step):
    options = [f"data.path={imdb_dir}", *CLASSIFIER]
    straight = run_module("rnn_sentiment.train", f"hydra.run.dir={tmp_path / 'straight'}", *options)
    assert straight.returncode == 0, straight.stderr

    resumed = interrupt_then_resume("rnn_sentiment.train", tmp_path / "stopped", options, step, signal_name)
    expected = final_metrics(tmp_path / "straight")
    assert resumed.keys() == expected.keys()
    assert resumed == pytest.approx(expected, rel=1e-6)


def test_preempted_bptt_language_model_resumes_to_the_same_metrics(tmp_path):
    text = tmp_path / "moby.txt"  # 70 batches of 4 streams x 5 words per epoch
    text.write_text("\n".join(["Call me Ishmael. The ship sailed, and the whale swam under the ship!"] * 120))
    options = [f"data.path={text}", *LANGUAGE_MODEL]
    straight = run_module("lm.train", f"hydra.run.dir={tmp_path / 'straight'}", *options)
    assert straight.returncode == 0, straight.stderr

    resumed = interrupt_then_resume("lm.train", tmp_path / "stopped", options, 120, "SIGTERM")
    expected = final_metrics(tmp_path / "straight")
    assert resumed.keys() == expected.keys()
    assert resumed == pytest.approx(expected, rel=1e-6)
