"""Linear classifiers on binarized n-gram counts: logistic regression and NBSVM (Wang & Manning 2012).

Two classes: one binary model. More: one-vs-rest, one binary model per class (for NBSVM with its
own class's log-count ratio), the class of the highest score predicted.

Features are the package's words (`text.words_of`: the tokenizer's normalisation and whitespace
split) and their n-grams, every one seen in the training split (no `num_words` cap), each 1 if it
occurs in a review, else 0. Hyperparameters are chosen on the validation split only: the functions
that choose never see the test split.
"""

import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.svm import LinearSVC

from rnn_sentiment.core.text import words_of


def ngram_vectorizer(max_n: int = 2, min_df: int = 1) -> CountVectorizer:
    """Texts → a sparse (reviews, n-grams) float32 matrix of 0/1: the 1..`max_n`-grams of `words_of`."""
    return CountVectorizer(
        tokenizer=words_of,
        lowercase=False,  # words_of lowercases, as the tokenizer does
        token_pattern=None,
        ngram_range=(1, max_n),
        min_df=min_df,
        binary=True,
        dtype=np.float32,
    )


def log_count_ratio(features: sparse.csr_matrix, labels: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """r = log((p/‖p‖₁) / (q/‖q‖₁)), p = α + Σ features of positive (label 1) rows, q of the others; shape (n-grams,)."""
    positive = np.asarray(features[labels == 1].sum(axis=0)).ravel() + alpha
    negative = np.asarray(features[labels != 1].sum(axis=0)).ravel() + alpha
    return np.log(positive / positive.sum()) - np.log(negative / negative.sum())


class NBSVM:
    """An L2-regularised squared-hinge linear SVM on NB-scaled features r ∘ x, with the paper's
    interpolation w' = (1 − β)·w̄ + β·w, w̄ = ‖w‖₁/|V| (β = 1: the plain SVM on r ∘ x). For more
    than two classes, one such model per class against the rest (its own r), the highest margin wins."""

    def __init__(self, C: float, beta: float = 1.0, alpha: float = 1.0, max_iter: int = 1000, seed: int = 0):
        self.C, self.beta, self.alpha, self.max_iter, self.seed = C, beta, alpha, max_iter, seed

    def fit(self, features: sparse.csr_matrix, labels: np.ndarray) -> "NBSVM":
        """Fit on `features` (reviews, n-grams), binary, and class ids `labels` (reviews,)."""
        self.classes = np.unique(labels)
        positives = self.classes[1:] if len(self.classes) == 2 else self.classes  # two classes: one model
        self.ratios, self.weights, self.biases = [], [], []
        for positive in positives:
            targets = (labels == positive).astype(labels.dtype)  # 0/1 labels as they are
            ratio = log_count_ratio(features, targets, self.alpha)
            svm = LinearSVC(C=self.C, max_iter=self.max_iter, random_state=self.seed)
            svm.fit(self._scaled(features, ratio), targets)
            self.ratios.append(ratio)
            self.weights.append(svm.coef_.ravel())
            self.biases.append(float(svm.intercept_[0]))
        return self

    @staticmethod
    def _scaled(features: sparse.csr_matrix, ratio: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix(features.multiply(ratio))

    def margins(self, features: sparse.csr_matrix) -> np.ndarray:
        """(reviews, models) signed distances: one model for two classes, one per class for more."""
        columns = []
        for ratio, w, b in zip(self.ratios, self.weights, self.biases):
            weights = (1 - self.beta) * np.abs(w).mean() + self.beta * w
            columns.append(self._scaled(features, ratio) @ weights + b)
        return np.stack(columns, axis=1)

    def predict(self, features: sparse.csr_matrix) -> np.ndarray:
        """Class ids, shape (reviews,), as `fit` saw them."""
        margins = self.margins(features)
        chosen = (margins[:, 0] > 0).astype(np.int64) if margins.shape[1] == 1 else margins.argmax(axis=1)
        return self.classes[chosen].astype(np.int64)


@dataclass
class Choice:
    """The fitted model whose hyperparameters gave the best validation accuracy, and the whole search."""

    model: LogisticRegression | OneVsRestClassifier | NBSVM
    params: dict
    val_acc: float
    fit_seconds: float  # every fit of the search
    searched: list[dict]  # each setting tried with its validation accuracy


def accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of `predicted` equal to `labels` (both (reviews,))."""
    return float((predicted == labels).mean())


def choose_logistic_regression(train, val, Cs, max_iter: int = 1000, seed: int = 0) -> Choice:
    """`train`, `val`: (features, labels); the C of `Cs` with the best validation accuracy (the first on ties).

    `seed` fixes liblinear's shuffling of the coordinates, so a rerun gives the same weights. More than
    two classes: one model per class against the rest, as for NBSVM."""
    start, searched, best = time.perf_counter(), [], None
    for C in Cs:
        model = LogisticRegression(C=C, solver="liblinear", max_iter=max_iter, random_state=seed)
        if len(np.unique(train[1])) > 2:
            model = OneVsRestClassifier(model)
        model.fit(*train)
        val_acc = accuracy(model.predict(val[0]), val[1])
        searched.append({"C": C, "val/acc": val_acc})
        if best is None or val_acc > best[2]:
            best = (model, {"C": C}, val_acc)
    return Choice(*best, time.perf_counter() - start, searched)


def choose_nbsvm(train, val, Cs, betas, alpha: float = 1.0, max_iter: int = 1000, seed: int = 0) -> Choice:
    """The (C, β) of `Cs` × `betas` with the best validation accuracy (the first on ties); one fit per C."""
    start, searched, best = time.perf_counter(), [], None
    for C in Cs:
        model = NBSVM(C, alpha=alpha, max_iter=max_iter, seed=seed).fit(*train)
        for beta in betas:
            model.beta = beta
            val_acc = accuracy(model.predict(val[0]), val[1])
            searched.append({"C": C, "beta": beta, "val/acc": val_acc})
            if best is None or val_acc > best[2]:
                best = (model, {"C": C, "beta": beta}, val_acc)
    best[0].beta = best[1]["beta"]
    return Choice(*best, time.perf_counter() - start, searched)
