"""Bad input at the command line: one line naming the thing and the fix, a non-zero exit."""

import sys
from unittest.mock import patch

import pytest
from hydra.core.global_hydra import GlobalHydra

from conftest import run_here
from lm import generate

pytestmark = pytest.mark.slow  # every test starts an entry point in a subprocess


def test_missing_data_path_is_one_line(tmp_path):
    result = run_here("rnn_sentiment.train", f"data.path={tmp_path / 'missing'}", f"hydra.run.dir={tmp_path / 'run'}")
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
    result = run_here("rnn_sentiment.train", f"data.path={imdb_dir}", override, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert message in result.stderr


def test_lm_checkpoint_given_to_predict(lm_checkpoint):
    ckpt = lm_checkpoint / "checkpoints" / "last.ckpt"
    result = run_here("rnn_sentiment.predict", f"ckpt_path={ckpt}", "text=good")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: ckpt_path={ckpt}: is a lm checkpoint, not a sentiment one; use python -m lm.generate with it"
    )


def test_lm_text_without_words(tmp_path):
    (tmp_path / "empty.txt").write_text("... !!!\n\n")
    result = run_here("lm.train", f"data.path={tmp_path / 'empty.txt'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert "empty.txt: the train slice holds 0 words" in result.stderr


def test_earlier_outputs_are_not_overwritten_by_a_failed_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text('{"test/acc": 0.9}')
    result = run_here("rnn_sentiment.train", f"data.path={tmp_path / 'missing'}", f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    assert (run_dir / "metrics.json").read_text() == '{"test/acc": 0.9}'


@pytest.mark.parametrize("module, overrides, message", [
    ("rnn_sentiment.train", ["model=word_lstm"], "error: model=word_lstm composes a LanguageModel, which python -m "
     "rnn_sentiment.train does not train; give it model=bilstm|conv_lstm|elman|lstm (or an experiment of its own)"),
    ("lm.train", ["model=lstm"], "error: model=lstm composes a SentimentClassifier, which python -m lm.train does not "
     "train; give it model=word_lstm (or an experiment of its own)"),
    ("lm.train", ["experiment=tutorial"], "error: data.max_len is not an option of lm.data.LanguageModelDataModule; "
     "remove it (a preset of the other entry point, experiment=… say, may have set it)"),
])
def test_a_preset_of_the_other_entry_point_is_one_line(tmp_path, imdb_dir, module, overrides, message):
    result = run_here(module, f"data.path={imdb_dir}", *overrides, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == message, result.stderr[-2000:]


@pytest.mark.parametrize("option, message", [
    ("temperature=abc", "temperature=abc must be a number, e.g. temperature=1.0"),
    ("n_words=abc", "n_words=abc must be a whole number, e.g. n_words=50"),
    ("n_words=2.5", "n_words=2.5 must be a whole number, e.g. n_words=50"),
    ("top_k=abc", "top_k=abc must be a whole number, e.g. top_k=0"),
    ("top_p=abc", "top_p=abc must be a number, e.g. top_p=1.0"),
    ("num_samples=abc", "num_samples=abc must be a whole number, e.g. num_samples=1"),
    ("seed=abc", "seed=abc must be a whole number, e.g. seed=42"),
    ("temperature=nan", "temperature=nan must be a number, e.g. temperature=1.0"),
])
def test_generate_options_of_the_wrong_type_are_one_line(tmp_path, option, message, capsys):
    # in this process (the checks run before the checkpoint is read): milliseconds, not a new Python
    with patch.object(sys, "argv", ["lm.generate", f"ckpt_path={tmp_path / 'none.ckpt'}", option]), \
            pytest.raises(SystemExit) as exit:
        generate.main()
    GlobalHydra.instance().clear()
    assert exit.value.code == 2 and capsys.readouterr().err.strip() == f"error: {message}"
