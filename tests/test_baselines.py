"""python -m rnn_sentiment.baselines: NBSVM and logistic regression on binarized uni+bigrams."""

import json
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import compose_config, run_module, sentiment_frame
from rnn_sentiment import linear_baselines
from rnn_sentiment.core.training import instantiate_config


def run_baselines(tmp_path, data_path, *overrides):
    return run_module("rnn_sentiment.baselines", f"data.path={data_path}", f"hydra.run.dir={tmp_path / 'run'}",
                      *overrides, timeout=120)


def test_features_are_binarized_uni_and_bigrams_of_the_tokenizer_words():
    vectorizer = linear_baselines.ngram_vectorizer()
    features = vectorizer.fit_transform(["Great movie!<br />Great, GREAT.", "a-b"])
    # normalised as WordTokenizer does: <br /> and punctuation become spaces, lowercase, whitespace split
    first = {gram: features[0, index] for gram, index in vectorizer.vocabulary_.items() if features[0, index]}
    assert first == {"great": 1, "movie": 1, "great movie": 1, "movie great": 1, "great great": 1}
    assert sorted(vectorizer.vocabulary_) == sorted([*first, "a", "b", "a b"])


def test_log_count_ratio_is_the_smoothed_log_ratio_of_class_frequencies():
    features = linear_baselines.ngram_vectorizer(max_n=1).fit_transform(["good good", "good bad", "bad"])
    ratio = linear_baselines.log_count_ratio(features, np.array([1, 1, 0]), alpha=1.0)
    # vocabulary order: bad, good; positive counts (1+1, 2+1), negative (1+1, 0+1)
    np.testing.assert_allclose(ratio, np.log(np.array([2, 3]) / 5) - np.log(np.array([2, 1]) / 3), rtol=1e-6)


@pytest.fixture
def synthetic_splits(imdb_dir, tmp_path):
    cfg = compose_config("baselines", tmp_path, [f"data.path={imdb_dir}"])
    splits, _, _ = instantiate_config(cfg.data).read_splits()
    vectorizer = linear_baselines.ngram_vectorizer()
    vectorizer.fit(splits["train"][0])
    return {name: (vectorizer.transform(texts), labels) for name, (texts, labels) in splits.items()}


def test_both_baselines_learn_the_synthetic_task(synthetic_splits):
    train, val, test = synthetic_splits["train"], synthetic_splits["val"], synthetic_splits["test"]
    for choice in (linear_baselines.choose_nbsvm(train, val, [0.1, 1.0], [0.25, 1.0]),
                   linear_baselines.choose_logistic_regression(train, val, [0.1, 1.0])):
        assert choice.val_acc >= 0.9
        assert linear_baselines.accuracy(choice.model.predict(test[0]), test[1]) >= 0.9


def test_the_chosen_C_is_the_best_on_validation_however_bad(synthetic_splits):
    train, (val_features, val_labels) = synthetic_splits["train"], synthetic_splits["val"]
    # validation labels flipped: the best setting on validation is now the worst classifier,
    # and the search must pick the C whose validation accuracy is highest, however bad
    flipped = (val_features, 1 - val_labels)
    choice = linear_baselines.choose_logistic_regression(train, flipped, [1e-4, 10.0])
    assert [row["C"] for row in choice.searched] == [1e-4, 10.0]
    best = max(choice.searched, key=lambda row: row["val/acc"])
    assert choice.params == {"C": best["C"]} and choice.val_acc == best["val/acc"]


@pytest.mark.slow  # starts the entry point
def test_run_writes_baselines_json_and_test_labels_never_steer_the_choice(imdb_dir, tmp_path):
    flipped = tmp_path / "flipped"
    flipped.mkdir()
    (flipped / "train.parquet").write_bytes((imdb_dir / "train.parquet").read_bytes())
    test = pd.read_parquet(imdb_dir / "test.parquet")
    test.assign(label=1 - test["label"]).to_parquet(flipped / "test.parquet")

    results = []
    for name, data in (("plain", imdb_dir), ("flipped", flipped)):
        done = run_baselines(tmp_path / name, data, "Cs=[0.001,1.0]", "betas=[0.25,1.0]")
        assert done.returncode == 0, done.stderr
        assert "nbsvm" in done.stdout and "logistic_regression" in done.stdout
        results.append(json.loads((tmp_path / name / "run" / "baselines.json").read_text()))
    plain, flipped_result = results
    assert plain["features"]["reviews"] == {"train": 288, "val": 32, "test": 120}
    for model in ("nbsvm", "logistic_regression"):
        assert plain[model]["test/acc"] >= 0.9
        assert flipped_result[model]["test/acc"] == pytest.approx(1 - plain[model]["test/acc"])
        for key in ("C", "beta", "val/acc", "searched"):
            assert flipped_result[model].get(key) == plain[model].get(key)
    assert plain["nbsvm"]["beta"] in (0.25, 1.0)


@pytest.mark.slow  # starts the entry point
def test_bad_data_path_is_one_line(tmp_path):
    done = run_baselines(tmp_path, tmp_path / "missing")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: data.path={tmp_path / 'missing'}: no such file")


@pytest.mark.slow  # starts the entry point
def test_validating_on_test_is_refused(imdb_dir, tmp_path):
    done = run_baselines(tmp_path, imdb_dir, "data.val_on_test=true")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: data.val_on_test=true would choose C and β")
    assert not (tmp_path / "run" / "baselines.json").exists()


@pytest.mark.slow  # starts the entry point
def test_one_label_is_one_line(tmp_path):
    folder = tmp_path / "one_label"
    folder.mkdir()
    sentiment_frame(40, seed=1).assign(label=1).to_parquet(folder / "train.parquet")
    done = run_baselines(tmp_path, folder)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith(
        f"error: {folder / 'train.parquet'}: column 'label' holds 1 class ('1'); a classifier needs two or more")


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    import rnn_sentiment
    from rnn_sentiment import baselines
    from rnn_sentiment.core.errors import UserInputError

    for name in [name for name in sys.modules if name.partition(".")[0] == "sklearn"]:
        monkeypatch.setitem(sys.modules, name, None)  # what an environment without the extra sees
    monkeypatch.delitem(sys.modules, "rnn_sentiment.linear_baselines")
    monkeypatch.delattr(rnn_sentiment, "linear_baselines")
    with pytest.raises(UserInputError, match=r"pip install 'rnn-lightning\[baselines\]'"):
        baselines._linear_baselines()
