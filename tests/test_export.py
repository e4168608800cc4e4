"""Exported networks (`python -m rnn_sentiment.export`): Hub folders that load wherever a checkpoint
does, by path or by a Hub id from the local Hub cache (no network in tests)."""

import json
import shutil

import huggingface_hub
import pytest
import torch
from conftest import QUICK, QUICK_TRAINING, checkpoint_prediction, predicted_rows, run_here, sentiment_frame
from safetensors.torch import load_file

from lm.module import LanguageModel
from rnn_sentiment.core.checkpoints import load_module
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.hub import read_exported
from rnn_sentiment.core.text import WordTokenizer
from rnn_sentiment.module import SentimentClassifier

SIZES = {"embed_dim": 16, "hidden_size": 16, "num_layers": 2}


def language_model_run(tmp_path, *options):
    """A tiny language model trained by `python -m lm.train` in its own run directory: the checkpoint."""
    text = tmp_path / "moby_dick.txt"
    text.write_text("\n".join(["Call me Ishmael. The ship sailed, and the whale swam under the ship!"] * 100))
    run = run_here("lm.train", f"data.path={text}", "data.seq_len=8", "data.batch_size=8", "data.eval_batch_size=4",
                   *[f"model.net.{key}={value}" for key, value in SIZES.items()], *QUICK_TRAINING, "~logger",
                   f"hydra.run.dir={tmp_path / 'lm'}", f"paths.cache_dir={tmp_path / 'cache'}", *options)
    assert run.returncode == 0, run.stderr[-2000:]
    return tmp_path / "lm" / "checkpoints" / "last.ckpt"


def export(ckpt_path, out):
    done = run_here("rnn_sentiment.export", f"ckpt_path={ckpt_path}", f"out={out}")
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def save_random_language_model(path, **options) -> LanguageModel:
    """An untrained language model's checkpoint, as `lm.train` writes one (enough to start a classifier)."""
    tokenizer = WordTokenizer.fit(sentiment_frame(60, seed=5).text.tolist(), 40)
    module = LanguageModel(tokenizer.vocab_size, {**SIZES, **options})
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "preprocessing": {"task": "lm", "tokenizer": tokenizer.to_json()}}, path)
    return module


def test_an_exported_language_model_is_its_checkpoint_with_a_card(tmp_path):
    ckpt = language_model_run(tmp_path)
    folder = export(ckpt, tmp_path / "exported")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "tokenizer.json"]
    config = json.loads((folder / "config.json").read_text())
    assert config["format"] == "rnn-lightning" and config["hyper_parameters"]["net"]["hidden_size"] == 16
    from_folder, from_ckpt = load_module(str(folder), LanguageModel, "lm"), load_module(str(ckpt), LanguageModel, "lm")
    assert from_folder.tokenizer.to_json() == from_ckpt.tokenizer.to_json()
    for name, value in from_ckpt.state_dict().items():
        torch.testing.assert_close(from_folder.state_dict()[name], value, rtol=0, atol=0)
    # `tokenizers` reads tokenizer.json by itself
    assert WordTokenizer.from_json((folder / "tokenizer.json").read_text()).vocab_size > 5
    sampled = [run_here("lm.generate", f"ckpt_path={source}", "seed_text=the ship", "n_words=12", "seed=3").stdout
               for source in (ckpt, folder)]
    assert sampled[0] == sampled[1] and len(sampled[0].split()) == 14
    card = (folder / "README.md").read_text()
    metrics = json.loads((tmp_path / "lm" / "metrics.json").read_text())
    assert "library_name: rnn-lightning" in card and "pipeline_tag: text-generation" in card
    assert f"| test/ppl | {metrics['test/ppl']:.4f} |" in card
    assert "python -m lm.train data.path=" in card and f"- data.path: {tmp_path / 'moby_dick.txt'}" in card
    assert "License of the data: not known to rnn-lightning" in card  # a file of the user's is not claimed


def test_tied_weights_are_stored_once_and_shared_again(tmp_path):
    ckpt = language_model_run(tmp_path, "model.net.tie_weights=true", "model.net.embed_dim=16")
    folder = export(ckpt, tmp_path / "exported")
    stored = load_file(folder / "model.safetensors")
    assert "net.embedding.weight" in stored and "net.decoder.weight" not in stored
    module = load_module(str(folder), LanguageModel, "lm")
    assert module.net.decoder.weight is module.net.embedding.weight
    torch.testing.assert_close(module.net.embedding.weight, load_module(str(ckpt), LanguageModel, "lm").net.embedding.weight)


@pytest.mark.slow
def test_a_classifier_fine_tuned_from_the_folder_equals_one_from_its_checkpoint(tmp_path, imdb_dir):
    save_random_language_model(tmp_path / "lm.ckpt")
    folder = export(tmp_path / "lm.ckpt", tmp_path / "exported")
    metrics, weights = [], []
    for name, encoder in (("from_ckpt", tmp_path / "lm.ckpt"), ("from_folder", folder)):
        run = run_here("rnn_sentiment.train", "experiment=imdb_pretrained", f"data.path={imdb_dir}",
                       f"encoder_ckpt={encoder}", f"hydra.run.dir={tmp_path / name}", *QUICK, "seed=4")
        assert run.returncode == 0, run.stderr[-2000:]
        found = json.loads((tmp_path / name / "metrics.json").read_text())
        metrics.append({key: value for key, value in found.items() if key.startswith(("val/", "test/"))})
        weights.append(torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"])
    assert metrics[0] == metrics[1] and metrics[0]
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        torch.testing.assert_close(weights[1][key], weights[0][key], rtol=0, atol=0)
    # and the exported classifier predicts as its checkpoint
    classifier = export(tmp_path / "from_folder" / "checkpoints" / "last.ckpt", tmp_path / "classifier")
    card = (classifier / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and "| classes | neg, pos |" in card
    predicted = run_here("rnn_sentiment.predict", f"ckpt_path={classifier}", 'text="a wonderful film"')
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    probability, label = checkpoint_prediction(tmp_path / "from_folder" / "checkpoints" / "last.ckpt", "a wonderful film")
    assert predicted_rows(predicted.stdout) == [(pytest.approx(probability, abs=5e-5), label, "a wonderful film")]


def hub_cache_with(folder, repo_id: str, cache) -> None:
    """`folder` laid out as the Hub cache holds a downloaded model repository's snapshot."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    repository = cache / f"models--{repo_id.replace('/', '--')}"
    (repository / "refs").mkdir(parents=True)
    (repository / "refs" / "main").write_text(revision)
    shutil.copytree(folder, repository / "snapshots" / revision)


def test_a_hub_id_loads_from_the_hub_cache_offline_and_an_uncached_one_is_one_line(tmp_path, monkeypatch):
    module = save_random_language_model(tmp_path / "lm.ckpt")
    folder = export(tmp_path / "lm.ckpt", tmp_path / "exported")
    hub_cache_with(folder, "someone/review-lm", tmp_path / "hub")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    loaded = load_module("someone/review-lm", LanguageModel, "lm")
    torch.testing.assert_close(loaded.net.layers[1].weight_hh_l0, module.net.layers[1].weight_hh_l0, rtol=0, atol=0)
    with pytest.raises(UserInputError) as refused:
        load_module("someone/other-lm", LanguageModel, "lm")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("ckpt_path=someone/other-lm: ")
    assert "HF_HUB_OFFLINE is set" in message and "hf download someone/other-lm" in message
    with pytest.raises(UserInputError, match=r"ckpt_path=runs/last\.ckpt: no such checkpoint file or exported folder"):
        load_module("runs/last.ckpt", LanguageModel, "lm")  # a path, not a Hub id


def test_a_folder_whose_config_does_not_match_its_weights_is_one_line_everywhere(tmp_path, imdb_dir):
    save_random_language_model(tmp_path / "lm.ckpt")
    folder = export(tmp_path / "lm.ckpt", tmp_path / "exported")
    config = json.loads((folder / "config.json").read_text())
    config["hyper_parameters"]["net"]["hidden_size"] = 24
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserInputError) as refused:
        load_module(str(folder), LanguageModel, "lm")
    assert "\n" not in str(refused.value) and "its weights do not fit its network settings" in str(refused.value)
    run = run_here("rnn_sentiment.train", "experiment=imdb_pretrained", f"data.path={imdb_dir}",
                   f"encoder_ckpt={folder}", f"hydra.run.dir={tmp_path / 'cls'}", *QUICK)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: encoder_ckpt={folder}: its weight net.")
    assert "its config does not match its weights" in run.stderr


@pytest.mark.parametrize("damage", ["no_tokenizer", "not_json", "not_safetensors", "other_format", "newer_format"])
def test_a_damaged_folder_is_one_line(tmp_path, damage):
    save_random_language_model(tmp_path / "lm.ckpt")
    folder = export(tmp_path / "lm.ckpt", tmp_path / "exported")
    config = json.loads((folder / "config.json").read_text())
    if damage == "no_tokenizer":
        (folder / "tokenizer.json").unlink()
    elif damage == "not_json":
        (folder / "config.json").write_text("{ not json")
    elif damage == "not_safetensors":  # a pickle under the weights' name: read as safetensors, it is refused
        torch.save({"x": torch.zeros(2)}, folder / "model.safetensors")
    else:
        config.update({"other_format": {"format": "transformers"}, "newer_format": {"format_version": 99}}[damage])
        (folder / "config.json").write_text(json.dumps(config))
    expected = {"no_tokenizer": "no tokenizer.json in the folder", "not_json": "a file of the folder cannot be read",
                "not_safetensors": "a file of the folder cannot be read", "other_format": "is not an rnn-lightning",
                "newer_format": "newer than this package reads"}[damage]
    with pytest.raises(UserInputError) as refused:
        read_exported(str(folder), "encoder_ckpt")
    assert "\n" not in str(refused.value) and expected in str(refused.value)
    assert str(refused.value).startswith(f"encoder_ckpt={folder}: ")


def test_export_never_writes_over_a_folder_and_refuses_what_is_not_a_checkpoint(tmp_path):
    save_random_language_model(tmp_path / "lm.ckpt")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    refused = run_here("rnn_sentiment.export", f"ckpt_path={tmp_path / 'lm.ckpt'}", f"out={taken}")
    assert refused.returncode == 2 and "already exists and is not an empty folder" in refused.stderr
    assert [p.name for p in taken.iterdir()] == ["notes.txt"] and (taken / "notes.txt").read_text() == "mine"
    assert not list(tmp_path.glob(".*partial"))
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.ckpt")
    refused = run_here("rnn_sentiment.export", f"ckpt_path={tmp_path / 'other.ckpt'}", f"out={tmp_path / 'new'}")
    assert refused.returncode == 2 and "not an rnn-lightning checkpoint" in refused.stderr
    assert not (tmp_path / "new").exists()
    missing = run_here("rnn_sentiment.export", f"ckpt_path={tmp_path / 'lm.ckpt'}")
    assert missing.returncode == 2 and "give both" in missing.stderr


@pytest.mark.parametrize(("data", "terms"), [
    ({"_target_": "lm.data.LanguageModelDataModule", "path": None}, "Moby Dick (Herman Melville, 1851)"),
    ({"_target_": "lm.data.LanguageModelDataModule", "path": ["${data_dir}/imdb/train.parquet",
                                                              "${data_dir}/imdb_unsup/unsupervised.parquet"]},
     "IMDB Large Movie Review Dataset"),
    ({"_target_": "rnn_sentiment.data.SentimentDataModule", "path": None, "hub_dataset": "stanfordnlp/imdb"},
     "IMDB Large Movie Review Dataset"),
    ({"_target_": "rnn_sentiment.data.SentimentDataModule", "path": None, "hub_dataset": "SetFit/sst5"},
     "not known to rnn-lightning"),
])
def test_the_card_states_the_terms_of_the_data_it_knows_and_only_those(tmp_path, data, terms):
    from omegaconf import OmegaConf

    from rnn_sentiment.core.export import export_checkpoint

    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / ".hydra").mkdir()
    OmegaConf.save({"data_dir": "../shared/data", "data": data}, tmp_path / "run" / ".hydra" / "config.yaml")
    save_random_language_model(tmp_path / "run" / "checkpoints" / "last.ckpt")
    card = (export_checkpoint(str(tmp_path / "run" / "checkpoints" / "last.ckpt"), str(tmp_path / "out")) / "README.md")
    assert f"License of the data: {terms}" in card.read_text()
    if "imdb_unsup" in str(data):
        assert "- data.path: ['../shared/data/imdb/train.parquet', '../shared/data/imdb_unsup/unsupervised.parquet']" \
            in card.read_text()


@pytest.mark.parametrize("resume", ["ckpt_path=last", "++ckpt_path=last", "+ckpt_path=last"])
def test_the_card_of_a_resumed_run_gives_the_command_that_made_it(tmp_path, resume):
    from rnn_sentiment.core.export import export_checkpoint

    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    save_random_language_model(tmp_path / "run" / "checkpoints" / "best-epoch05.ckpt")
    overrides = ["experiment=lm_imdb", "trainer.max_epochs=12", resume]
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"test/ppl": 120.5, "overrides": overrides}))
    card = export_checkpoint(str(tmp_path / "run" / "checkpoints" / "best-epoch05.ckpt"), str(tmp_path / "out"))
    text = (card / "README.md").read_text()
    assert "python -m lm.train experiment=lm_imdb trainer.max_epochs=12\n" in text and "ckpt_path=last" not in text
    assert "| test/ppl | 120.5000 |" in text
