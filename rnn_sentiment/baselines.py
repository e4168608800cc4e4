"""Linear baselines on the classifiers' own split: NBSVM and logistic regression on binarized uni+bigrams,
for two classes or more (one-vs-rest).

python -m rnn_sentiment.baselines data.path=../shared/data/imdb
"""

import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rnn_sentiment.core.configs import CONFIG_PATH
from rnn_sentiment.core.errors import UserInputError, exit_on_user_error
from rnn_sentiment.core.files import write_json_atomically
from rnn_sentiment.core.option_types import check_command_line
from rnn_sentiment.core.training import instantiate_config


def _linear_baselines():
    try:
        from rnn_sentiment import linear_baselines
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] not in ("sklearn", "scipy"):
            raise
        raise UserInputError(
            "the linear baselines need scikit-learn: pip install 'rnn-lightning[baselines]'"
        ) from error
    return linear_baselines


def measure(cfg: DictConfig) -> dict:
    """Fit both baselines on `cfg.data`'s split, their settings chosen on validation: what
    `baselines.json` holds (features, and per model the choice, val and test accuracy, the search)."""
    linear = _linear_baselines()
    if cfg.data.val_on_test:
        raise UserInputError(
            "data.val_on_test=true would choose C and β on the test split; "
            "drop it, so that they are chosen on validation carved from train"
        )
    splits, label_names, notes = instantiate_config(cfg.data).read_splits()
    for note in notes:
        print(note, file=sys.stderr)
    start = time.perf_counter()
    vectorizer = linear.ngram_vectorizer(cfg.max_n, cfg.min_df)
    features = {"train": vectorizer.fit_transform(splits["train"][0])}
    features |= {name: vectorizer.transform(splits[name][0]) for name in ("val", "test")}
    feature_seconds = time.perf_counter() - start
    train, val = (features["train"], splits["train"][1]), (features["val"], splits["val"][1])

    choices = {
        "nbsvm": linear.choose_nbsvm(train, val, list(cfg.Cs), list(cfg.betas), cfg.alpha, cfg.max_iter, cfg.seed),
        "logistic_regression": linear.choose_logistic_regression(train, val, list(cfg.Cs), cfg.max_iter, cfg.seed),
    }
    results = {
        "features": {
            "classes": label_names,
            "ngrams": f"1-{cfg.max_n}",
            "vocabulary": len(vectorizer.vocabulary_),
            "reviews": {name: len(texts) for name, (texts, _) in splits.items()},
            "seconds": round(feature_seconds, 1),
        }
    }
    for name, choice in choices.items():
        results[name] = {
            **choice.params, "val/acc": choice.val_acc,
            "test/acc": linear.accuracy(choice.model.predict(features["test"]), splits["test"][1]),
            "fit_seconds": round(choice.fit_seconds, 1), "searched": choice.searched,
        }
    return results


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="baselines")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """Fit both baselines, choose their settings on validation, report test accuracy in `baselines.json`."""
    check_command_line(cfg)
    results = measure(cfg)
    features, reviews = results["features"], results["features"]["reviews"]
    print(f"{len(features['classes'])} classes; {features['vocabulary']:,} binarized {features['ngrams']}-grams from "
          f"{reviews['train']:,} training reviews; {reviews['val']:,} val, {reviews['test']:,} test "
          f"({features['seconds']:.0f} s)")
    print(f"  {'model':22s} {'chosen on val':22s} {'val acc':>8s} {'test acc':>9s} {'fit s':>7s}")
    for name in ("nbsvm", "logistic_regression"):
        row = results[name]
        chosen = " ".join(f"{key}={row[key]:g}" for key in ("C", "beta") if key in row)
        print(f"  {name:22s} {chosen:22s} {row['val/acc']:8.2%} {row['test/acc']:9.2%} {row['fit_seconds']:7.1f}")
    write_json_atomically(Path(cfg.paths.output_dir) / "baselines.json", results)


if __name__ == "__main__":
    main()
