"""The package installed from its wheel, or editable, runs from any directory with the configs it carries.

Each install goes into a fresh virtual environment that sees the dependencies of the environment
running the tests through a `.pth` file (offline and fast); `.pth` files inside that path are not
processed, so the development checkout's own (editable) install stays invisible there.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT, checkpoint_prediction, predicted_rows

pytestmark = pytest.mark.slow

NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "outputs", "multirun", "lightning_logs", "build", "dist",
                                    "*.egg-info", "__pycache__", ".pytest_cache", "results", "*.ckpt")
TINY_TRAINING = ["trainer.max_steps=3", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
                 "data.batch_size=16", "data.max_len=40", "~logger"]


def fresh_venv(folder: Path) -> Path:
    """A virtual environment whose only other import path is the site-packages of the tests' own one."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "test_dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
    return folder


def pip_install(venv: Path, *args: str) -> None:
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", *args],
                   check=True, capture_output=True, text=True, env=clean_environment())


def clean_environment() -> dict:
    """No path to the checkout: what runs is what the venv installed."""
    return {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}


def run(venv: Path, program: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Runs a console script of `venv` (or `python` with `-m …`) in `cwd`; fails with its output if it fails."""
    cwd.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([str(venv / "bin" / program), *args], cwd=cwd, capture_output=True, text=True,
                            env=clean_environment(), timeout=300)
    assert result.returncode == 0, f"{program} {' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def copy_of_checkout(tmp_path_factory) -> Path:
    """Building writes into the source tree (build/, *.egg-info), so it works on a copy."""
    copy = tmp_path_factory.mktemp("source") / "rnn-lightning"
    shutil.copytree(ROOT, copy, ignore=NOT_SOURCE)
    return copy


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    source, dist = copy_of_checkout(tmp_path_factory), tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(source)],
                   check=True, capture_output=True, text=True)
    (wheel,) = dist.glob("rnn_lightning-*.whl")
    venv = fresh_venv(tmp_path_factory.mktemp("wheel") / "venv")
    pip_install(venv, str(wheel))
    return venv


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return copy_of_checkout(tmp_path_factory)


@pytest.fixture(scope="module")
def editable_venv(source, tmp_path_factory) -> Path:
    venv = fresh_venv(tmp_path_factory.mktemp("editable") / "venv")
    pip_install(venv, "--no-build-isolation", "--editable", str(source))
    return venv


def test_the_wheel_is_what_runs_and_it_carries_the_configs(wheel_venv, tmp_path):
    script = ("import lm, rnn_sentiment, rnn_sentiment.core.configs as c, rnn_lightning_conf as conf; "
              "print(rnn_sentiment.__file__, lm.__file__, conf.__file__, c.CONFIG_PATH, sep='\\n')")
    shown = run(wheel_venv, "python", "-c", script, cwd=tmp_path)
    *files, config_path = shown.stdout.split()
    assert all(Path(file).is_relative_to(wheel_venv) for file in files), files
    assert config_path == "pkg://rnn_lightning_conf"
    packaged = Path(files[2]).parent
    assert sorted(p.relative_to(packaged) for p in packaged.rglob("*.yaml")) == sorted(
        p.relative_to(ROOT / "conf") for p in (ROOT / "conf").rglob("*.yaml"))


def test_the_wheels_console_scripts_compose_show_help_and_resolve_hydra_configs(wheel_venv, tmp_path):
    job = run(wheel_venv, "rnn-train", "--cfg", "job", "trainer.max_steps=5", cwd=tmp_path).stdout
    assert "rnn_sentiment.data.SentimentDataModule" in job and "max_steps: 5" in job
    assert "lm.data" in run(wheel_venv, "rnn-lm-train", "experiment=lm_tutorial", "--cfg", "job", cwd=tmp_path).stdout
    shown = run(wheel_venv, "rnn-train", "--help", cwd=tmp_path).stdout  # the installed configs: pkg:// source
    assert "model: bilstm, conv_lstm, elman, lstm\n" in shown and "experiment: imdb_pretrained," in shown
    hydra = run(wheel_venv, "python", "-m", "rnn_sentiment.train", "hydra/launcher=slurm", "--cfg", "hydra",
                cwd=tmp_path).stdout
    assert "submitit_folder" in hydra and "rnn_sentiment.core.sweep.SweepSummary" in hydra


def test_the_wheel_trains_a_sweep_and_predicts_from_an_empty_directory(wheel_venv, tmp_path, imdb_dir):
    anywhere = tmp_path / "anywhere"
    run(wheel_venv, "rnn-train", "-m", "model=elman,lstm", f"data.path={imdb_dir}", *TINY_TRAINING, cwd=anywhere)
    (sweep,) = (anywhere / "outputs/sentiment/multirun").iterdir()
    assert (sweep / "summary.csv").is_file()  # the sweep callback of conf/hydra/default.yaml ran
    checkpoint = sweep / "0" / "checkpoints" / "last.ckpt"
    predicted = run(wheel_venv, "rnn-predict", f"ckpt_path={checkpoint}", "text='A superb film, really.'",
                    cwd=anywhere).stdout
    (row,) = predicted_rows(predicted)
    probability, label = checkpoint_prediction(checkpoint, "A superb film, really.")
    assert row == (pytest.approx(probability, abs=5e-5), label, "A superb film, really.")


def test_the_wheel_trains_a_language_model_and_generates(wheel_venv, tmp_path, moby_file):
    anywhere = tmp_path / "anywhere"
    run(wheel_venv, "rnn-lm-train", f"data.path={moby_file}", "data.seq_len=8", "model.net.embed_dim=16",
        "model.net.hidden_size=16", *TINY_TRAINING[:3], "~logger", "hydra.run.dir=run", cwd=anywhere)
    generated = run(wheel_venv, "rnn-lm-generate", f"ckpt_path={anywhere / 'run/checkpoints/last.ckpt'}",
                    "seed_text=ship", "n_words=5", "seed=0", cwd=anywhere).stdout
    assert generated.split()[0] == "ship" and len(generated.split()) == 6


def test_an_editable_install_runs_anywhere_with_the_checkouts_own_configs(editable_venv, source, tmp_path):
    train_yaml = source / "conf" / "train.yaml"
    train_yaml.write_text(train_yaml.read_text().replace("seed: 42", "seed: 4242"))
    assert "seed: 4242" in run(editable_venv, "rnn-train", "--cfg", "job", cwd=tmp_path).stdout
    module = run(editable_venv, "python", "-m", "rnn_sentiment.train", "--cfg", "job", cwd=tmp_path)
    assert "seed: 4242" in module.stdout
