"""Bad input at the command line: one line naming the thing and the fix, a non-zero exit."""

import pytest

from conftest import run_module

pytestmark = pytest.mark.slow  # every test starts an entry point in a subprocess


def test_missing_data_path_is_one_line(tmp_path):
    result = run_module("rnn_sentiment.train", f"data.path={tmp_path / 'missing'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: data.path={tmp_path / 'missing'}: no such file or folder ({tmp_path / 'missing'}); "
        "check the path, or leave data.path unset to use the default download"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "override, message",
    [("model=transformer", "Could not find 'model/transformer'"),
     ("experiment=nope", "Could not find 'experiment/nope'"),
     ("data.max_len=0", "error: data.max_len=0 must be a positive number of tokens")],
)
def test_unknown_names_and_bad_values(tmp_path, imdb_dir, override, message):
    result = run_module("rnn_sentiment.train", f"data.path={imdb_dir}", override, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert message in result.stderr


def test_lm_checkpoint_given_to_predict(lm_checkpoint):
    ckpt = lm_checkpoint / "checkpoints" / "last.ckpt"
    result = run_module("rnn_sentiment.predict", f"ckpt_path={ckpt}", "text=good")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: ckpt_path={ckpt}: is a lm checkpoint, not a sentiment one; use python -m lm.generate with it"
    )


def test_lm_text_without_words(tmp_path):
    (tmp_path / "empty.txt").write_text("... !!!\n\n")
    result = run_module("lm.train", f"data.path={tmp_path / 'empty.txt'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert "empty.txt: the train slice holds 0 words" in result.stderr


def test_earlier_outputs_are_not_overwritten_by_a_failed_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text('{"test/acc": 0.9}')
    result = run_module("rnn_sentiment.train", f"data.path={tmp_path / 'missing'}", f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    assert (run_dir / "metrics.json").read_text() == '{"test/acc": 0.9}'
