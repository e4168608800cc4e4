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


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="baselines")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    """Fit both baselines, choose their settings on validation, report test accuracy in `baselines.json`."""
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
            "ngrams": f"1-{cfg.max_n}",
            "vocabulary": len(vectorizer.vocabulary_),
            "reviews": {name: len(texts) for name, (texts, _) in splits.items()},
            "seconds": round(feature_seconds, 1),
        }
    }
    print(f"{len(label_names)} classes; {len(vectorizer.vocabulary_):,} binarized 1-{cfg.max_n}-grams from {len(splits['train'][0]):,} "
          f"training reviews; {len(splits['val'][0]):,} val, {len(splits['test'][0]):,} test ({feature_seconds:.0f} s)")
    print(f"  {'model':22s} {'chosen on val':22s} {'val acc':>8s} {'test acc':>9s} {'fit s':>7s}")
    for name, choice in choices.items():
        test_acc = linear.accuracy(choice.model.predict(features["test"]), splits["test"][1])
        results[name] = {
            **choice.params, "val/acc": choice.val_acc, "test/acc": test_acc,
            "fit_seconds": round(choice.fit_seconds, 1), "searched": choice.searched,
        }
        chosen = " ".join(f"{key}={value:g}" for key, value in choice.params.items())
        print(f"  {name:22s} {chosen:22s} {choice.val_acc:8.2%} {test_acc:9.2%} {choice.fit_seconds:7.1f}")
    write_json_atomically(Path(cfg.paths.output_dir) / "baselines.json", results)


if __name__ == "__main__":
    main()
