"""The two-stage recipe: a language model pretrained on review text, then the classifier fine-tuned from it."""

import json
import os

import lightning as L
import pandas as pd
import pytest
import torch
from conftest import (QUICK, QUICK_TRAINING, ROOT, checkpoint_prediction, compose_config, predicted_rows, run_here, run_module,
                      sentiment_frame)
from omegaconf import OmegaConf
from torch import nn

from lm.data import LanguageModelDataModule
from lm.module import LanguageModel
from rnn_sentiment.data import SentimentDataModule
from rnn_sentiment.pretrained_encoder import with_encoder_settings
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.module import SentimentClassifier
from rnn_sentiment.core.text import WordTokenizer
from rnn_sentiment.core.batching import Layout
from rnn_sentiment.core.preprocessing import BINARY_NAMES, Preprocessing

SIZES = {"embed_dim": 12, "hidden_size": 16, "num_layers": 2}


def save_language_model(path, texts, old_layout=False, **options):
    """A language-model checkpoint as `lm.train` writes it (state dict, hyperparameters, preprocessing);
    `old_layout`: as checkpoints before `model.net` and the AWD options held it."""
    tokenizer = WordTokenizer.fit(texts, 40)
    module = LanguageModel(tokenizer.vocab_size, {**SIZES, **options})
    state = module.state_dict()
    if old_layout:
        state = {
            (f"net.lstm.{key.split('.')[3].removesuffix('_l0')}_l{key.split('.')[2]}" if ".layers." in key else key): v
            for key, v in state.items()
        }
    hyper_parameters = dict(module.hparams)
    if old_layout:  # and the network's settings beside the module's, as before `model.net`
        hyper_parameters.update(hyper_parameters.pop("net"))
    torch.save({"state_dict": state, "hyper_parameters": hyper_parameters,
                "preprocessing": {"task": "lm", "tokenizer": tokenizer.to_json()}}, path)
    return module, tokenizer


@pytest.fixture
def reviews():
    return sentiment_frame(60, seed=5).text.tolist()


@pytest.mark.parametrize("old_layout", [False, True])
def test_encoder_weights_equal_the_language_model_after_loading(tmp_path, reviews, old_layout):
    language_model, tokenizer = save_language_model(tmp_path / "lm.ckpt", reviews, old_layout,
                                                    adaptive_cutoffs=[5, 10])
    classifier = SentimentClassifier(tokenizer.vocab_size, SIZES, encoder_ckpt=str(tmp_path / "lm.ckpt")).net
    torch.testing.assert_close(classifier.embedding.weight[1:], language_model.net.embedding.weight[1:], rtol=0, atol=0)
    assert classifier.embedding.weight[0].abs().sum() == 0  # the padding row stays zero
    for depth, layer in enumerate(language_model.net.layers):
        for name, value in layer.named_parameters():
            torch.testing.assert_close(getattr(classifier.rnn, name.replace("_l0", f"_l{depth}")), value, rtol=0, atol=0)


def test_vocabulary_mismatch_is_a_one_line_error(tmp_path, reviews):
    _, tokenizer = save_language_model(tmp_path / "lm.ckpt", reviews)
    with pytest.raises(UserInputError) as error:
        SentimentClassifier(tokenizer.vocab_size + 7, SIZES, encoder_ckpt=str(tmp_path / "lm.ckpt"))
    message = str(error.value)
    assert "\n" not in message
    assert f"vocab_size is {tokenizer.vocab_size}, the classifier's {tokenizer.vocab_size + 7}" in message
    assert "data.num_words unset" in message


def test_a_classifier_checkpoint_is_refused_as_encoder(tmp_path, reviews):
    torch.save({"state_dict": {}, "hyper_parameters": {}, "preprocessing": {"task": "sentiment"}}, tmp_path / "c.ckpt")
    with pytest.raises(UserInputError, match=r"encoder_ckpt=.*is a sentiment checkpoint, not a language model"):
        SentimentClassifier(40, SIZES, encoder_ckpt=str(tmp_path / "c.ckpt"))


def test_encoder_checkpoint_sets_cell_sizes_and_tokenizer_of_any_model(tmp_path, reviews, imdb_dir):
    _, tokenizer = save_language_model(tmp_path / "lm.ckpt", reviews)
    encoder = f"encoder_ckpt={tmp_path / 'lm.ckpt'}"
    cfg = compose_config("train", tmp_path, ["model=conv_lstm", encoder, f"data.path={imdb_dir}"])
    with_encoder_settings(cfg, ["model=conv_lstm", encoder])
    assert (cfg.model.net.cell, cfg.model.net.conv_channels, cfg.model.net.bidirectional) == ("lstm", 0, False)
    assert {key: cfg.model.net[key] for key in SIZES} == SIZES
    assert cfg.data.num_words == tokenizer.vocab_size

    datamodule = SentimentDataModule(path=str(imdb_dir), tokenizer_from=cfg.data.tokenizer_from, max_len=40)
    datamodule.setup("fit")
    assert datamodule.tokenizer.to_json() == tokenizer.to_json()  # not one fitted on the classifier's reviews


def test_the_language_model_checkpoint_is_read_once_for_sizes_tokenizer_and_weights(tmp_path, reviews, imdb_dir,
                                                                                     monkeypatch):
    save_language_model(tmp_path / "lm.ckpt", reviews)
    reads, load = [], torch.load
    monkeypatch.setattr(torch, "load", lambda path, *a, **k: reads.append(path) or load(path, *a, **k))
    encoder = f"encoder_ckpt={tmp_path / 'lm.ckpt'}"
    cfg = compose_config("train", tmp_path, [encoder, f"data.path={imdb_dir}", "data.max_len=40"])
    with_encoder_settings(cfg, [encoder])
    datamodule = SentimentDataModule(path=str(imdb_dir), tokenizer_from=cfg.data.tokenizer_from, max_len=40)
    datamodule.setup("fit")
    SentimentClassifier(datamodule.vocab_size, dict(cfg.model.net), encoder_ckpt=cfg.model.encoder_ckpt)
    assert reads == [tmp_path / "lm.ckpt"]
    stamp = (tmp_path / "lm.ckpt").stat().st_mtime_ns + 10**9
    os.utime(tmp_path / "lm.ckpt", ns=(stamp, stamp))  # a changed file is read again
    SentimentClassifier(datamodule.vocab_size, dict(cfg.model.net), encoder_ckpt=cfg.model.encoder_ckpt)
    assert len(reads) == 2


@pytest.mark.parametrize(("given", "fine"), [("model.net.hidden_size=64", False), ("model.net.hidden_size=16", True),
                                             ("+model.net.cell=rnn", False), ("data.num_words=5000", False)])
def test_a_size_given_explicitly_must_agree_with_the_checkpoint(tmp_path, reviews, given, fine):
    save_language_model(tmp_path / "lm.ckpt", reviews)
    encoder = f"encoder_ckpt={tmp_path / 'lm.ckpt'}"
    cfg = compose_config("train", tmp_path, [encoder, given.lstrip("+")])
    if fine:
        with_encoder_settings(cfg, [encoder, given])
        return
    with pytest.raises(UserInputError) as error:
        with_encoder_settings(cfg, [encoder, given])
    key, value = given.lstrip("+").split("=")
    assert str(error.value).startswith(f"{key}={value} conflicts with encoder_ckpt=")
    assert "\n" not in str(error.value)


def test_language_model_text_drops_texts_equal_to_excluded_ones(tmp_path):
    test_reviews = sentiment_frame(30, seed=2)
    test_reviews.loc[:2, "text"] = ["zebra okapi quagga " + text for text in test_reviews.text[:3]]
    test_reviews.to_parquet(tmp_path / "test.parquet")
    unlabelled = pd.concat([test_reviews[["text"]].iloc[:3], sentiment_frame(200, seed=3)[["text"]]])
    unlabelled.to_parquet(tmp_path / "unsup.parquet")

    def vocabulary(exclude):
        datamodule = LanguageModelDataModule(path=str(tmp_path / "unsup.parquet"), exclude_texts_of=exclude,
                                             cache_dir=str(tmp_path / "cache"), num_words=100)
        datamodule.setup("fit")
        return set(datamodule.tokenizer.decode(range(2, datamodule.vocab_size)).split())

    assert {"zebra", "okapi", "quagga"} <= vocabulary(None)
    assert not {"zebra", "okapi", "quagga"} & vocabulary(str(tmp_path / "test.parquet"))


@pytest.mark.slow
def test_fine_tuning_pipeline_runs_both_stages_as_documented(tmp_path):
    """The README's two commands on tiny data: `lm.train experiment=lm_imdb`, then the classifier from it (each
    entry point in this process: `test_install` runs the wheel's in new ones)."""
    data = tmp_path / "data"
    (data / "imdb").mkdir(parents=True)
    (data / "imdb_unsup").mkdir()
    sentiment_frame(200, seed=1).to_parquet(data / "imdb" / "train.parquet")
    sentiment_frame(80, seed=2).to_parquet(data / "imdb" / "test.parquet")
    sentiment_frame(200, seed=3)[["text"]].to_parquet(data / "imdb_unsup" / "unsupervised.parquet")
    tiny = ["model.net.embed_dim=16", "model.net.hidden_size=16", "data.batch_size=8", *QUICK_TRAINING, "~logger"]
    stage1 = run_here("lm.train", "experiment=lm_imdb", f"data_dir={data}", "data.seq_len=10",
                        "data.eval_batch_size=4", "model.net.adaptive_cutoffs=[4,10]", f"hydra.run.dir={tmp_path / 'lm'}",
                        *tiny)
    assert stage1.returncode == 0, stage1.stderr[-2000:]
    stage2 = run_here("rnn_sentiment.train", "experiment=imdb_pretrained", f"data.path={data / 'imdb'}",
                        f"encoder_ckpt={tmp_path / 'lm' / 'checkpoints' / 'last.ckpt'}",
                        f"hydra.run.dir={tmp_path / 'cls'}", *tiny, "model.lr=0.02", "trainer.max_epochs=3")
    assert stage2.returncode == 0, stage2.stderr[-2000:]
    metrics = json.loads((tmp_path / "cls" / "metrics.json").read_text())
    assert metrics["test/acc"] > 0.75  # the tiny data's cue words are learnt
    saved = OmegaConf.load(tmp_path / "cls" / ".hydra" / "config.yaml")  # what trained, not the preset's sizes
    encoder = str(tmp_path / "lm" / "checkpoints" / "last.ckpt")
    assert (saved.model.net.num_layers, saved.data.tokenizer_from, saved.model._get_node("encoder_ckpt")) == (
        2, encoder, encoder)  # the path itself, not an interpolation that needs this package's resolver
    # the classifier's checkpoint predicts alone, without the language model's file
    (tmp_path / "lm" / "checkpoints" / "last.ckpt").unlink()
    classifier = tmp_path / "cls" / "checkpoints" / "last.ckpt"
    predicted = run_here("rnn_sentiment.predict", f"ckpt_path={classifier}", 'text="a wonderful film"')
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    probability, label = checkpoint_prediction(classifier, "a wonderful film")
    assert predicted_rows(predicted.stdout) == [(pytest.approx(probability, abs=5e-5), label, "a wonderful film")]


class ChangedPerEpoch(L.Callback):
    """Which parts of the network each training epoch changed: `head`, `rnn_l<k>`, `embedding`."""

    def __init__(self):
        self.changed = []

    def on_train_epoch_start(self, trainer, module):
        self.before = {name: p.detach().clone() for name, p in module.net.named_parameters()}

    def on_train_epoch_end(self, trainer, module):
        self.changed.append({name.split(".")[0] + (name[-3:] if "_l" in name else "")
                             for name, p in module.net.named_parameters() if not torch.equal(p, self.before[name])})


def test_gradual_unfreezing_trains_one_more_group_each_epoch_from_the_head_down(tmp_path, reviews, imdb_dir):
    _, tokenizer = save_language_model(tmp_path / "lm.ckpt", reviews)
    datamodule = SentimentDataModule(path=str(imdb_dir), tokenizer_from=str(tmp_path / "lm.ckpt"), max_len=40,
                                     batch_size=64, cache_dir=str(tmp_path / "cache"))
    module = SentimentClassifier(tokenizer.vocab_size, {**SIZES, "pooling": "concat"},
                                 encoder_ckpt=str(tmp_path / "lm.ckpt"), gradual_unfreezing=True, lr_layer_decay=2.6,
                                 schedule="slanted_triangular")
    module.set_preprocessing(Preprocessing("sentiment", tokenizer, Layout(40), BINARY_NAMES))
    recorder = ChangedPerEpoch()
    trainer = L.Trainer(max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[recorder], num_sanity_val_steps=0)
    trainer.fit(module, datamodule=datamodule)
    assert recorder.changed == [{"head"}, {"head", "rnn_l1"}, {"head", "rnn_l1", "rnn_l0"},
                                {"head", "rnn_l1", "rnn_l0", "embedding"}]


def test_layer_groups_cover_every_parameter_once_from_the_head_down():
    from rnn_sentiment.fine_tuning import layer_groups
    from rnn_sentiment.network import RecurrentClassifier

    for options in [{"num_layers": 3}, {"num_layers": 2, "bidirectional": True}, {"conv_channels": 8}]:
        net = RecurrentClassifier(50, **{"embed_dim": 8, "hidden_size": 8, **options})
        groups = layer_groups(net)
        assert len(groups) == 2 + options.get("num_layers", 1)
        flat = [id(p) for group in groups for p in group]
        assert sorted(flat) == sorted(id(p) for p in net.parameters())
        assert groups[0] == list(net.head.parameters())
        assert net.embedding.weight in groups[-1]


def test_slanted_triangular_rises_then_falls():
    from rnn_sentiment.fine_tuning import slanted_triangular

    factor = slanted_triangular(100, 0.1)
    assert factor(0) == pytest.approx(1 / 32)
    assert factor(10) == pytest.approx(1)
    assert factor(5) == pytest.approx((1 + 0.5 * 31) / 32)
    assert factor(100) == pytest.approx(1 / 32)
    assert all(factor(s) < factor(s + 1) for s in range(10)) and all(factor(s) > factor(s + 1) for s in range(10, 99))


def test_bptt_windows_give_the_same_outputs_and_concat_pools_all_three():
    from rnn_sentiment.network import RecurrentClassifier

    torch.manual_seed(0)
    tokens, lengths = torch.randint(1, 50, (4, 23)), torch.tensor([23, 5, 17, 1])
    plain = RecurrentClassifier(50, embed_dim=8, hidden_size=8, num_layers=2, pooling="concat")
    windowed = RecurrentClassifier(50, embed_dim=8, hidden_size=8, num_layers=2, pooling="concat", bptt=4)
    windowed.load_state_dict(plain.state_dict())
    for length in (lengths, None):
        torch.testing.assert_close(windowed(tokens, length), plain(tokens, length))
    outputs = plain.run_rnn(plain.embedding(tokens))
    pooled = plain.pool(outputs, lengths)
    assert pooled.shape == (4, 24)
    torch.testing.assert_close(pooled[:, 8:16], torch.stack([outputs[i, :n].amax(0) for i, n in enumerate(lengths)]))
    # the first window gets no gradient from the last one's loss
    embedded = windowed.embedding(tokens).detach().requires_grad_()
    windowed.run_rnn(embedded)[:, -1].sum().backward()
    assert embedded.grad[:, :20].abs().sum() == 0 and embedded.grad[:, 20:].abs().sum() > 0


class OneMultiLayerLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(30, 8)
        self.lstm = nn.LSTM(8, 8, 2, batch_first=True)
        self.decoder = nn.Linear(8, 30)


def test_language_model_of_the_earlier_layout_loads_and_computes_the_same():
    from lm.network import WordLSTM

    old = OneMultiLayerLSTM()
    net = WordLSTM(30, 8, 8, 2)
    net.load_state_dict(old.state_dict())
    tokens = torch.randint(0, 30, (3, 9))
    outputs, _ = old.lstm(old.embedding(tokens))
    torch.testing.assert_close(net(tokens)[0], old.decoder(outputs))


def test_awd_dropouts_act_in_training_only_and_the_adaptive_loss_is_the_log_likelihood():
    from lm.network import WordLSTM

    torch.manual_seed(0)
    net = WordLSTM(30, 8, 16, 2, dropout=0.3, embed_dropout=0.2, weight_dropout=0.5, locked_dropout=True,
                   adaptive_cutoffs=[5, 15])
    tokens, targets = torch.randint(0, 30, (3, 9)), torch.randint(0, 30, (3, 9))
    net.eval()
    log_probs, _ = net(tokens)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(3, 9))
    loss, _ = net.loss(tokens, targets)
    torch.testing.assert_close(loss, -log_probs.gather(-1, targets[..., None]).mean())
    torch.testing.assert_close(net(tokens)[0], log_probs)
    net.train()
    assert not torch.allclose(net(tokens)[0], net(tokens)[0])
    net.loss(tokens, targets)[0].backward()
    assert net.layers[1].weight_hh_l0.grad.abs().sum() > 0  # through the dropped-out copy to the weight itself


def test_the_adaptive_softmax_runs_under_autocast():
    """Autocast made the adaptive softmax's index_copy_ mix dtypes: bf16-mixed crashed on a GPU (float16 LSTMs
    do not run on this CPU, so bfloat16 stands in)."""
    from lm.network import WordLSTM

    torch.manual_seed(0)
    net = WordLSTM(30, 8, 16, 2, adaptive_cutoffs=[5, 15]).eval()
    tokens, targets = torch.randint(0, 30, (3, 9)), torch.randint(0, 30, (3, 9))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = net.loss(tokens, targets)
        log_probs, _ = net(tokens)
    assert loss.dtype == log_probs.dtype == torch.float32
    torch.testing.assert_close(loss, -log_probs.gather(-1, targets[..., None]).mean())
    torch.testing.assert_close(loss, net.loss(tokens, targets)[0], atol=0.05, rtol=0.02)


def test_the_pretrained_experiment_requires_an_encoder(tmp_path, imdb_dir):
    cfg = compose_config("train", tmp_path, ["experiment=imdb_pretrained", f"data.path={imdb_dir}"])
    with pytest.raises(UserInputError, match=r"^encoder_ckpt is required by this experiment; set it"):
        with_encoder_settings(cfg, ["experiment=imdb_pretrained"])


def test_with_single_bias_the_two_pretrained_biases_become_one(tmp_path, reviews):
    language_model, tokenizer = save_language_model(tmp_path / "lm.ckpt", reviews)
    net = SentimentClassifier(tokenizer.vocab_size, {**SIZES, "single_bias": True},
                              encoder_ckpt=str(tmp_path / "lm.ckpt")).net
    assert not net.rnn.bias_hh_l1.requires_grad and net.rnn.bias_hh_l1.abs().sum() == 0
    tokens = torch.randint(1, tokenizer.vocab_size, (3, 7))
    expected, _ = language_model.net.eval().features(tokens)
    torch.testing.assert_close(net.rnn(net.embedding(tokens))[0], expected)


def test_with_normalized_embeddings_the_pretrained_layers_compute_what_they_did_when_fine_tuning_starts(
        tmp_path, reviews, imdb_dir):
    """The language model read raw embeddings; with `normalize_embeddings` (adversarial training) the first
    LSTM layer is adapted once, at the first fit's start, so the classifier's outputs do not change; a
    second fit of the same module and a run resumed from a checkpoint keep the weights as they are."""
    _, tokenizer = save_language_model(tmp_path / "lm.ckpt", reviews)
    datamodule = SentimentDataModule(path=str(imdb_dir), tokenizer_from=str(tmp_path / "lm.ckpt"), max_len=40,
                                     batch_size=64, cache_dir=str(tmp_path / "cache"))

    def classifier(normalize):
        torch.manual_seed(0)  # the same head
        module = SentimentClassifier(tokenizer.vocab_size, {**SIZES, "normalize_embeddings": normalize},
                                     encoder_ckpt=str(tmp_path / "lm.ckpt"))
        module.set_preprocessing(Preprocessing("sentiment", tokenizer, Layout(40), BINARY_NAMES))
        return module

    def fit(module, ckpt_path=None):  # no training step: only what fitting does at its start
        trainer = L.Trainer(max_epochs=1 + (ckpt_path is not None), limit_train_batches=0, limit_val_batches=0,
                            logger=False, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, default_root_dir=tmp_path)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        return trainer

    def weights(module):
        return {name: value.clone() for name, value in module.net.state_dict().items()}

    def assert_equal(found, expected):
        assert found.keys() == expected.keys()
        for name in expected:
            torch.testing.assert_close(found[name], expected[name], rtol=0, atol=0, msg=name)

    tokens = torch.cat([torch.zeros(4, 3, dtype=torch.long), torch.randint(1, tokenizer.vocab_size, (4, 9))], dim=1)
    raw, standardized = classifier(normalize=False), classifier(normalize=True)
    fit(raw)
    trainer = fit(standardized)
    assert standardized.net.word_counts.min() < standardized.net.word_counts.max()  # the split's counts, not ones
    torch.testing.assert_close(standardized.net.eval()(tokens), raw.net.eval()(tokens))  # pre-padded
    lengths = torch.tensor([12, 5, 9, 1])
    torch.testing.assert_close(standardized.net(tokens[:, 3:], lengths), raw.net(tokens[:, 3:], lengths))  # post
    adapted = weights(standardized)
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    fit(standardized)
    assert_equal(weights(standardized), adapted)
    resumed = classifier(normalize=True)
    fit(resumed, ckpt_path=tmp_path / "last.ckpt")
    assert_equal(weights(resumed), adapted)


def test_bptt_turns_fast_padding_off_so_gradients_stop_at_the_same_steps():
    from rnn_sentiment.network import RecurrentClassifier

    torch.manual_seed(0)
    tokens = torch.cat([torch.zeros(3, 5, dtype=torch.long), torch.randint(1, 50, (3, 7))], dim=1)  # pre-padded
    gradients = []
    for fast in (True, False):
        torch.manual_seed(0)
        net = RecurrentClassifier(50, embed_dim=8, hidden_size=8, bptt=4, fast_padding=fast)
        net(tokens).sum().backward()
        gradients.append([p.grad for p in net.parameters()])
    for fast, plain in zip(*gradients):
        torch.testing.assert_close(fast, plain)


def test_bad_language_model_options_are_one_line_errors(tmp_path):
    from lm.network import WordLSTM

    with pytest.raises(UserInputError, match=r"^model.net.num_layers=0 must be at least 1$"):
        WordLSTM(10, 4, 5, num_layers=0)
    with pytest.raises(UserInputError, match=r"^model.net.weight_dropout=1.0 must lie in \[0, 1\)$"):
        WordLSTM(10, weight_dropout=1.0)
    with pytest.raises(UserInputError, match=r"^data.exclude_texts_of=.*: not a file"):
        LanguageModelDataModule(exclude_texts_of=str(tmp_path))


@pytest.mark.slow
def test_gradual_unfreezing_under_ddp(tmp_path, imdb_dir):
    """Every parameter still takes part in the backward pass, as DDP (without find_unused_parameters) requires."""
    result = run_module("rnn_sentiment.train", "trainer=ddp_cpu", f"data.path={imdb_dir}", "model.gradual_unfreezing=true",
                        "model.lr_layer_decay=2.6", "model.schedule=slanted_triangular", "model.net.hidden_size=8",
                        *QUICK, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 2


def test_resuming_with_other_optimizer_groups_is_a_one_line_error(tmp_path, imdb_dir):
    datamodule = SentimentDataModule(path=str(imdb_dir), max_len=40, batch_size=64, cache_dir=str(tmp_path / "cache"))

    def fit(ckpt_path=None, stage="fit", **options):
        L.seed_everything(0)
        module = SentimentClassifier(datamodule.tokenizer.vocab_size, SIZES, **options)
        module.set_preprocessing(datamodule.preprocessing())
        trainer = L.Trainer(max_epochs=1 + (ckpt_path is not None), logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                            default_root_dir=tmp_path)
        getattr(trainer, stage)(module, datamodule=datamodule, ckpt_path=ckpt_path)
        return trainer

    datamodule.prepare_data()
    datamodule.setup("fit")
    fit().save_checkpoint(tmp_path / "last.ckpt")
    fit(tmp_path / "last.ckpt")  # the same settings resume
    with pytest.raises(UserInputError, match=r"^the checkpoint's optimizer has parameter groups of \[\d+\] tensors, "
                                             r"these settings make \[\d+, \d+, \d+, \d+\]: .*lr_layer_decay was 1.0"):
        fit(tmp_path / "last.ckpt", lr_layer_decay=2.6)
    fit(tmp_path / "last.ckpt", "test", lr_layer_decay=2.6)  # testing restores no optimizer: nothing to refuse


def leaves(config, prefix=""):
    """{dotted key: value} of every leaf of a composed config."""
    found = {}
    for key, value in config.items():
        if isinstance(value, dict):
            found.update(leaves(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


def test_each_ablation_changes_only_its_own_settings(tmp_path):
    """`+ablation=glob(*)` runs the recipe, then each trick on its own turned off (or bptt added), and
    the same network without the language model."""
    from hydra.core.global_hydra import GlobalHydra

    def composed(ablation):
        GlobalHydra.instance().clear()
        cfg = compose_config("train", tmp_path, ["experiment=imdb_pretrained", "encoder_ckpt=lm.ckpt", f"+ablation={ablation}"])
        return leaves(OmegaConf.to_container(cfg, resolve=True))

    full = composed("full")
    changed = {}
    for file in sorted((ROOT / "conf" / "ablation").glob("*.yaml")):
        now = composed(file.stem)
        changed[file.stem] = {key: now[key] for key in full if now[key] != full[key]}
    assert changed == {
        "adversarial": {"model.net.normalize_embeddings": True, "model.adversarial": 5.0},
        "virtual_adversarial": {"model.net.normalize_embeddings": True, "model.virtual_adversarial": 5.0},
        "bptt_70": {"model.net.bptt": 70},
        "constant_lr": {"model.schedule": "constant"},
        "full": {},
        "gradual_unfreezing": {"model.gradual_unfreezing": True},
        "last_state_pooling": {"model.net.pooling": "last"},
        "layer_decay": {"model.lr_layer_decay": 2.6},
        "no_pretraining": {
            "model.encoder_ckpt": None, "data.num_words": 30000, "model.net.embed_dim": 256,
            "model.net.hidden_size": 512, "model.net.num_layers": 2,
        },
    }
