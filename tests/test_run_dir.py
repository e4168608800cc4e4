"""A run directory as users run trainings in it: its `train.log` holds the run, progress shows off a
terminal, one process at a time uses it, a kill cannot leave a checkpoint that stops a resume, and a
full disk or an unwritable directory is one line that loses nothing already written."""

import ctypes
import json
import os
import re
import resource
import subprocess
import sys

import pytest
import torch

from conftest import QUICK, run_here, run_module
from rnn_sentiment.core.checkpoints import DurableCheckpointIO
from rnn_sentiment.core.run_lock import LOCK_FILE, run_dir_lock

TINY = [*QUICK, "checkpoint_every_n_steps=5"]


def train_run(run_dir, imdb_dir, *extra, tiny=TINY, **options):
    return run_module("rnn_sentiment.train", f"data.path={imdb_dir}", f"hydra.run.dir={run_dir}", *tiny, *extra,
                      **options)


def log_lines(run_dir) -> list[str]:
    """train.log's messages, time stamps and logger names left out."""
    return [re.sub(r"^\[[^]]*\]\[[^]]*\]\[[A-Z]+\] - ", "", line) for line in
            (run_dir / "train.log").read_text().splitlines()]


@pytest.mark.slow
def test_train_log_holds_the_run_and_progress_shows_off_a_terminal(tmp_path, imdb_dir):
    run = tmp_path / "run"
    # with a logger, Lightning warns that 18 batches an epoch are fewer than its logging interval
    with_summary = [o for o in TINY if o not in ("~callbacks.model_summary", "~logger")] + ["logger=csv"]
    result = train_run(run, imdb_dir, "callbacks.plain_progress.every_seconds=0", tiny=with_summary,
                       warnings=True)  # the pipes here are not a terminal, as under nohup or SLURM
    assert result.returncode == 0, result.stderr
    lines = log_lines(run)
    metrics = json.loads((run / "metrics.json").read_text())
    assert lines[0] == " ".join(["overrides:", f"data.path={imdb_dir}", *with_summary,
                                 "callbacks.plain_progress.every_seconds=0"])  # the job's, hydra.* aside
    assert any("Trainable params" in line for line in lines)  # Lightning's model summary
    assert any(line.startswith("lstm classifier: ") and "parameters" in line for line in lines)
    assert any("PossibleUserWarning" in line for line in lines)  # a warning the run raised
    # progress: a line per step here (every_seconds=0), with the rate, the time left and the loss
    progress = [re.match(r"epoch (\d) step (\d+)/36: [\d.]+ steps/s, eta \d:\d\d:\d\d, loss [\d.]+$", line)
                for line in lines if line.startswith("epoch ")]
    assert [int(m.group(2)) for m in progress if m] == list(range(1, 37)) and all(progress)
    validations = [line for line in lines if line.startswith("validation at ")]
    assert [v.split(":")[0] for v in validations] == ["validation at epoch 0 step 18", "validation at epoch 1 step 36"]
    assert f"val/acc {metrics['val/acc']:.4f}" in validations[-1]
    assert f"  {'test/acc':24s} {metrics['test/acc']:.4f}" in lines  # the final metrics
    for line in [*validations, progress[0].group(0)]:  # what the log holds, the console showed
        assert line in result.stdout


@pytest.mark.slow
def test_an_error_that_ends_a_run_is_in_its_log(tmp_path, imdb_dir):
    run = tmp_path / "run"
    result = train_run(run, imdb_dir, "model.net.cell=gru2")
    assert result.returncode == 2
    message = "error: model.net.cell='gru2' is unknown; use one of rnn, lstm, gru"
    assert result.stderr.strip().splitlines()[-1] == message and log_lines(run)[-1] == message


@pytest.mark.slow
def test_test_ckpt_best_without_any_validation_says_it_tests_the_final_weights(tmp_path, imdb_dir):
    result = train_run(tmp_path / "run", imdb_dir, "trainer.limit_val_batches=0")
    assert result.returncode == 0, result.stderr
    assert ("note: test_ckpt=best, but no checkpoint was chosen on val/acc (no validation ran, or no checkpoint "
            "callback monitors it); testing the final weights") in result.stderr


@pytest.mark.slow
def test_a_second_process_on_a_live_run_directory_stops_at_once_naming_the_first(tmp_path, imdb_dir):
    run = tmp_path / "run"
    with run_dir_lock(run):  # this test's process is the live run
        second = train_run(run, imdb_dir, "ckpt_path=null")
    assert second.returncode == 2
    assert second.stderr.strip().splitlines()[-1] == (
        f"error: {run} is in use by process {os.getpid()} (a training or resume of this run directory); wait for it "
        "to end, or give this run another hydra.run.dir")
    assert not (run / "checkpoints").exists() and not (run / "metrics.json").exists()
    assert (run / LOCK_FILE).read_text() == ""  # released by its holder


@pytest.mark.slow
def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path, imdb_dir):
    run = tmp_path / "run"
    run.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (run / LOCK_FILE).write_text(str(gone.pid))  # what a kill -9 leaves: its pid, no lock held
    result = train_run(run, imdb_dir)
    assert result.returncode == 0, result.stderr
    assert f"note: {run}: taking over the lock of process {gone.pid}, which is gone" in result.stderr


@pytest.mark.slow  # two Pythons import Lightning
def test_the_lock_is_exclusive_between_processes_and_released_after(tmp_path):
    probe = ("import sys; from pathlib import Path; from rnn_sentiment.core.run_lock import run_dir_lock\n"
             "try:\n    with run_dir_lock(Path(sys.argv[1])): print('got it')\n"
             "except Exception as error: print(error)")
    with run_dir_lock(tmp_path):
        held = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True)
        assert held.stdout.startswith(f"{tmp_path} is in use by process {os.getpid()}")
    free = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True)
    assert free.stdout.strip() == "got it"


@pytest.mark.slow
def test_ckpt_path_last_passes_over_a_truncated_newest_checkpoint(tmp_path, imdb_dir):
    run = tmp_path / "run"
    first = train_run(run, imdb_dir)
    assert first.returncode == 0, first.stderr
    saved = sorted((run / "checkpoints").glob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    newest, readable = saved[-1], saved[-2]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 3])  # as a kill mid-write on a plain writer
    resumed = train_run(run, imdb_dir, "ckpt_path=last", "trainer.max_epochs=3")
    assert resumed.returncode == 0, resumed.stderr
    assert f"note: ckpt_path=last: {newest} cannot be read (truncated or corrupt); passing over it" in resumed.stderr
    assert f"Restoring states from the checkpoint path at {readable}" in (run / "train.log").read_text()


def test_a_checkpoint_write_that_fails_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    writer = DurableCheckpointIO()
    writer.save_checkpoint({"step": torch.tensor(1)}, path)
    before = path.read_bytes()

    def dies_mid_write(obj, file):
        file.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dies_mid_write)
    with pytest.raises(Exception, match=rf"cannot write the checkpoint {path}: No space left on device; free space"):
        writer.save_checkpoint({"step": torch.tensor(2)}, path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def permission_bits_apply():
    """For a child process: file permission bits bind it, also when it runs as root (which may write
    anywhere): the capabilities that override them leave its bounding set, so the Python it runs lacks them."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
            if libc.prctl(24, capability, 0, 0, 0):  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.slow
def test_a_full_disk_or_an_unwritable_directory_is_one_line_and_keeps_what_was_written(tmp_path, imdb_dir):
    run = tmp_path / "run"
    first = train_run(run, imdb_dir)
    assert first.returncode == 0, first.stderr
    kept = {p: p.read_bytes() for p in [*(run / "checkpoints").iterdir(), run / "metrics.json"]}
    limit = min(p.stat().st_size for p in (run / "checkpoints").iterdir()) // 2  # no checkpoint fits

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    (run / "checkpoints").chmod(0o555)
    for limited, reason, fix in [(small_files, "File too large", "free space there"),
                                 (permission_bits_apply, "Permission denied", "make it writable")]:
        more = train_run(run, imdb_dir, "ckpt_path=last", "trainer.max_epochs=3", preexec_fn=limited)
        assert more.returncode == 2, more.stderr
        last = more.stderr.strip().splitlines()[-1]
        assert re.fullmatch(rf"error: cannot write the checkpoint {run}/checkpoints/\S+\.ckpt: {reason}; {fix} "
                            r"or give the run another directory .*; the checkpoints written before are intact", last)
        assert {p: p.read_bytes() for p in kept} == kept
        assert not [p for p in (run / "checkpoints").iterdir() if p not in kept]  # no partial file left


def test_an_unwritable_run_directory_stops_before_hydra_writes_anything(tmp_path):
    in_the_way = tmp_path / "a_file"
    in_the_way.write_text("")
    result = run_here("rnn_sentiment.train", f"hydra.run.dir={in_the_way}/run", cwd=tmp_path / "here")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: hydra.run.dir={in_the_way}/run: cannot write {in_the_way}: a file is in the way; move that file or "
        "give the run another directory (hydra.run.dir=…, paths.log_dir=…); nothing was written")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    sweep = run_module("rnn_sentiment.train", "-m", f"hydra.sweep.dir={locked}/sweep", "seed=1,2",
                       preexec_fn=permission_bits_apply)
    assert sweep.returncode == 2 and sweep.stderr.strip().splitlines() == [
        f"error: hydra.sweep.dir={locked}/sweep: cannot write {locked}: Permission denied; make it writable or give "
        "the run another directory (hydra.run.dir=…, paths.log_dir=…); nothing was written"]
    assert not list((tmp_path / "here").iterdir()) and not list(locked.iterdir())  # no outputs/ either
