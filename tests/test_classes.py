"""Any number of classes, named by the data, and datasets in the shapes users have them."""

import random

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from torch.nn import functional as F

from conftest import NOISE, sentiment_frame
from rnn_sentiment.core.batching import Layout
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.preprocessing import Preprocessing
from rnn_sentiment.core.text import WordTokenizer
from rnn_sentiment.data import SentimentDataModule
from rnn_sentiment.keras_compat import categorical_cross_entropy
from rnn_sentiment.module import SentimentClassifier, metric_key
from rnn_sentiment.prediction.writer import predicted_label, probability_columns

CLASSES = ["very negative", "negative", "neutral", "positive", "very positive"]


def class_rows(n: int, seed: int, classes: list[str] = CLASSES) -> list[dict]:
    """Texts whose class is carried by one of its two cue words among noise; `label` is the class's index."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randrange(len(classes))
        words = [rng.choice(NOISE) for _ in range(rng.randint(2, 8))]
        words.insert(rng.randrange(len(words) + 1), rng.choice([f"cue{label}a", f"cue{label}b"]))
        rows.append({"text": " ".join(words), "label": label})
    return rows


def class_label_dataset(rows: list[dict], classes: list[str] = CLASSES) -> datasets.Dataset:
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=classes)})
    return datasets.Dataset.from_list(rows, features=features)


def datamodule(path, **options) -> SentimentDataModule:
    dm = SentimentDataModule(path=str(path), **{"num_words": 60, "max_len": 12, "batch_size": 8, **options})
    dm.setup("fit")
    return dm


def split_rows(dm: SentimentDataModule, name: str) -> list[tuple[str, str]]:
    """(text as the tokenizer reads it, class name) of every row of split `name`, in order."""
    dataset = dm.datasets[name]
    texts = [" ".join(dm.tokenizer.id_to_word[int(i)] for i in row[row != 0]) for row in dataset.matrix]
    return [(text, dm.label_names[int(label)]) for text, label in zip(texts, dataset.labels)]


def read_as(rows: list[dict], classes: list[str] = CLASSES) -> list[tuple[str, str]]:
    return [(row["text"], classes[row["label"]]) for row in rows]


@pytest.fixture
def sst_like(tmp_path):
    """train/validation/test parquet files whose ClassLabel names five classes (spaces included)."""
    folder = tmp_path / "sst"
    folder.mkdir()
    rows = {"train": class_rows(200, 1), "validation": class_rows(40, 2), "test": class_rows(50, 3)}
    for split, part in rows.items():
        class_label_dataset(part).to_parquet(folder / f"{split}.parquet")
    return folder, rows


def test_class_names_and_every_row_come_from_the_class_label(sst_like):
    folder, rows = sst_like
    dm = datamodule(folder)
    assert dm.label_names == CLASSES and dm.num_classes == 5
    assert dm.network_arguments() == {"vocab_size": dm.vocab_size, "num_classes": 5}
    assert split_rows(dm, "val") == read_as(rows["validation"])
    assert split_rows(dm, "test") == read_as(rows["test"])
    assert sorted(split_rows(dm, "train")) == sorted(read_as(rows["train"]))
    assert dm.preprocessing().label_names == tuple(CLASSES)


def test_integer_labels_are_classes_in_numeric_order(tmp_path):
    rows = class_rows(120, 4)
    stars = [1, 2, 3, 9, 10]  # as strings these would sort 1, 10, 2, 3, 9
    frame = [{"text": row["text"], "stars": stars[row["label"]]} for row in rows]
    datasets.Dataset.from_list(frame).to_json(tmp_path / "reviews.jsonl")
    dm = datamodule(tmp_path / "reviews.jsonl", label_column="stars", val_fraction=0.2)
    assert dm.label_names == ["1", "2", "3", "9", "10"]
    every = split_rows(dm, "train") + split_rows(dm, "val") + split_rows(dm, "test")
    assert sorted(every) == sorted((row["text"], str(stars[row["label"]])) for row in rows)


def test_string_labels_and_several_text_columns_joined_in_order(tmp_path):
    rows = class_rows(150, 5, classes=["World", "Sports", "Business"])
    table = [{"title": row["text"].split()[0], "description": " ".join(row["text"].split()[1:]) or None,
              "topic": ["World", "Sports", "Business"][row["label"]]} for row in rows]
    datasets.Dataset.from_list(table).to_csv(tmp_path / "news.csv", index=False)
    dm = datamodule(tmp_path / "news.csv", text_column=["title", "description"], label_column="topic")
    assert dm.label_names == ["Business", "Sports", "World"]
    every = split_rows(dm, "train") + split_rows(dm, "val") + split_rows(dm, "test")
    assert sorted(every) == sorted((row["text"], ["World", "Sports", "Business"][row["label"]]) for row in rows)


def test_every_missing_column_is_named_at_once(sst_like):
    folder, _ = sst_like
    with pytest.raises(UserInputError, match=r"no text column 'review' or 'title' and no label column 'stars' "
                                             r"\(columns: text, label\); set data.text_column and data.label_column"):
        datamodule(folder, text_column=["review", "title"], label_column="stars")


def test_class_per_folder_tree_with_any_class_names(tmp_path):
    rows = {"train": class_rows(80, 6, ["ham", "spam", "eggs"]), "test": class_rows(30, 7, ["ham", "spam", "eggs"])}
    for split, part in rows.items():
        for number, row in enumerate(part):
            folder = tmp_path / "tree" / split / ["ham", "spam", "eggs"][row["label"]]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{number}.txt").write_text(row["text"])
    dm = datamodule(tmp_path / "tree")
    assert dm.label_names == ["eggs", "ham", "spam"]
    assert sorted(split_rows(dm, "test")) == sorted(read_as(rows["test"], ["ham", "spam", "eggs"]))


def test_a_saved_dataset_dict_and_a_hub_dataset_by_name_and_config(tmp_path):
    """The Hub path offline: a dataset repository's layout (README configs, parquet with ClassLabel),
    loaded by name through `datasets.load_dataset`, as `data.hub_dataset=… data.hub_config=…` does."""
    rows = {"train": class_rows(120, 8), "test": class_rows(40, 9)}
    saved = datasets.DatasetDict({split: class_label_dataset(part) for split, part in rows.items()})
    saved.save_to_disk(str(tmp_path / "saved"))
    assert split_rows(datamodule(tmp_path / "saved"), "test") == read_as(rows["test"])

    repo = tmp_path / "repo"
    for config, part in (("fine", rows), ("coarse", {s: class_rows(60, 10, CLASSES[:2]) for s in rows})):
        (repo / config).mkdir(parents=True)
        for split, split_rows_ in part.items():
            class_label_dataset(split_rows_, CLASSES[: 5 if config == "fine" else 2]).to_parquet(
                repo / config / f"{split}.parquet")
    (repo / "README.md").write_text("---\nconfigs:\n" + "".join(
        f"- config_name: {c}\n  data_files:\n  - split: train\n    path: {c}/train.parquet\n"
        f"  - split: test\n    path: {c}/test.parquet\n" for c in ("fine", "coarse")) + "---\n")
    hub = SentimentDataModule(path=None, hub_dataset=str(repo), hub_config="fine", num_words=60, max_len=12)
    hub.setup("fit")
    assert hub.label_names == CLASSES
    assert split_rows(hub, "test") == read_as(rows["test"])
    coarse = SentimentDataModule(path=None, hub_dataset=str(repo), hub_config="coarse", num_words=60, max_len=12)
    coarse.setup("fit")
    assert coarse.label_names == CLASSES[:2]


def test_rows_without_text_are_skipped_with_a_note(tmp_path, capsys):
    rows = class_rows(60, 11)
    for row in (3, 17, 18):
        rows[row]["text"] = ["", "   ", None][row % 3]
    class_label_dataset(rows).to_parquet(tmp_path / "train.parquet")
    class_label_dataset(class_rows(20, 12)).to_parquet(tmp_path / "test.parquet")
    dm = datamodule(tmp_path, val_fraction=0.25)
    assert "train.parquet: skipped 3 of 60 rows with no text in 'text' (rows 3, 17, 18)" in capsys.readouterr().err
    kept = [row for number, row in enumerate(rows) if number not in (3, 17, 18)]
    assert sorted(split_rows(dm, "train") + split_rows(dm, "val")) == sorted(read_as(kept))
    datamodule(tmp_path, val_fraction=0.25)  # from the cache: the note again
    assert "skipped 3 of 60 rows" in capsys.readouterr().err
    with pytest.raises(UserInputError, match="train.parquet: row 3 has an empty or missing text in 'text'"):
        datamodule(tmp_path, empty_texts="error")


def test_folds_partition_the_rows_and_each_fold_is_the_test_split_once(tmp_path):
    rows = class_rows(103, 13)
    class_label_dataset(rows).to_parquet(tmp_path / "mr.parquet")
    tests = [split_rows(datamodule(tmp_path / "mr.parquet", folds=5, fold=k, seed=3), "test") for k in range(5)]
    assert sorted(len(t) for t in tests) == [20, 20, 21, 21, 21]
    assert sorted(sum(tests, [])) == sorted(read_as(rows))  # disjoint, and together every row
    dm = datamodule(tmp_path / "mr.parquet", folds=5, fold=2, seed=3)
    assert len(dm.datasets["train"]) + len(dm.datasets["val"]) == 103 - len(tests[2])
    assert not set(split_rows(dm, "train")) & set(tests[2])


@pytest.mark.parametrize("options, message", [
    ({"folds": 10, "fold": 10}, r"data.fold=10 is out of range: with data.folds=10 use 0 to 9"),
    ({"folds": 10, "fold": -1}, r"data.fold=-1 is out of range"),
    ({"folds": 1}, r"data.folds=1 must be 0 \(no cross-validation\) or a number of folds, 2 or more"),
    ({"empty_texts": "drop"}, r"data.empty_texts='drop' is unknown; use one of skip, error"),
])
def test_bad_fold_and_empty_text_options(sst_like, options, message):
    with pytest.raises(UserInputError, match=message):
        SentimentDataModule(path=str(sst_like[0]), **options)


def test_folds_of_a_source_that_has_a_test_split(sst_like):
    with pytest.raises(UserInputError, match="data.folds=10: .*test.parquet is a test split already"):
        datamodule(sst_like[0], folds=10, fold=0)


def write_train_test(folder, train: list[dict], test: list[dict]):
    folder.mkdir()
    class_label_dataset(train).to_parquet(folder / "train.parquet")
    class_label_dataset(test).to_parquet(folder / "test.parquet")


def test_one_class_only(tmp_path):
    rows = [dict(row, label=2) for row in class_rows(30, 14)]
    write_train_test(tmp_path / "d", rows, class_rows(10, 15))
    with pytest.raises(UserInputError, match="train.parquet: the training split holds one class only \\('neutral'\\)"):
        datamodule(tmp_path / "d")
    (tmp_path / "one.csv").write_text("text,label\ngood film,pos\nfine film,pos\n")
    with pytest.raises(UserInputError, match=r"one.csv: column 'label' holds 1 class \('pos'\); a classifier needs two"):
        datamodule(tmp_path / "one.csv")


def test_a_class_in_test_that_training_lacks(tmp_path):
    train = [row for row in class_rows(80, 16) if row["label"] != 4]
    write_train_test(tmp_path / "d", train, class_rows(30, 17))
    with pytest.raises(UserInputError, match="the test split holds class 'very positive', which the training split "
                                             "does not; add training rows of it"):
        datamodule(tmp_path / "d")


def test_a_label_beyond_the_class_names(tmp_path):
    write_train_test(tmp_path / "d", class_rows(60, 18), class_rows(20, 19))
    table = pq.read_table(tmp_path / "d" / "test.parquet")  # keeps the ClassLabel in the schema's metadata
    labels = table.column("label").to_pylist()
    labels[6] = 7
    table = table.set_column(table.schema.get_field_index("label"), "label", [np.array(labels, dtype=np.int64)])
    pq.write_table(table, tmp_path / "d" / "test.parquet")
    with pytest.raises(UserInputError, match="test.parquet: row 6 has label 7, beyond the 5 class names of its ClassLabel"):
        datamodule(tmp_path / "d")


def test_an_empty_text_column(tmp_path):
    rows = [dict(row, text=None) for row in class_rows(20, 20)]
    write_train_test(tmp_path / "d", rows, class_rows(10, 21))
    with pytest.raises(UserInputError, match="train.parquet: row 0 has an empty or missing text in 'text'; "
                                             "set data.text_column to the column of texts"):
        datamodule(tmp_path / "d")


def module(num_classes: int, **options) -> SentimentClassifier:
    torch.manual_seed(0)
    net = {"cell": "lstm", "embed_dim": 8, "hidden_size": 6, **options}
    return SentimentClassifier(vocab_size=30, net=net, num_classes=num_classes)


def test_two_classes_keep_one_logit_and_more_get_one_per_class():
    tokens = torch.randint(1, 30, (4, 7))
    two, five = module(2), module(5)
    assert two.net.head.out_features == 1 and two(tokens).shape == (4,)
    assert five.net.head.out_features == 5 and five(tokens).shape == (4, 5)
    assert two.predict_step({"tokens": tokens}, 0).shape == (4,)
    probabilities = five.predict_step({"tokens": tokens}, 0)
    torch.testing.assert_close(probabilities, torch.softmax(five(tokens), dim=-1))
    assert five.hparams.num_classes == 5
    assert {name for name, _ in two.state_dict().items()} == {name for name, _ in module(2).state_dict().items()}


def test_cross_entropy_for_more_classes_and_keras_clipped_form():
    logits = torch.tensor([[2.0, -1.0, 0.5], [40.0, -40.0, 0.0]])
    labels = torch.tensor([2, 1])
    torch.testing.assert_close(categorical_cross_entropy(logits, labels, "logits"), F.cross_entropy(logits, labels))
    # clipped: -log(max(p, 1e-7)); the second row's p(class 1) = e^-80 is clipped to 1e-7
    p = torch.softmax(logits, dim=-1)
    expected = -(p[0, 2].log() + torch.tensor(1e-7).log()) / 2
    torch.testing.assert_close(categorical_cross_entropy(logits, labels, "clipped"), expected)
    # and from above: a certain right answer still costs -log(1 - 1e-7), not 0
    certain = categorical_cross_entropy(torch.tensor([[60.0, 0.0, 0.0]]), torch.tensor([0]), "clipped")
    torch.testing.assert_close(certain, -torch.tensor(1 - 1e-7).log())
    assert certain > 0


def test_training_step_of_more_classes_is_cross_entropy_and_updates_per_class_metrics():
    five = module(5)
    five.set_preprocessing(Preprocessing("sentiment", WordTokenizer.from_json(_tokenizer_json()), Layout(7), tuple(CLASSES)))
    tokens, labels = torch.randint(1, 30, (6, 7)), torch.tensor([0, 1, 2, 3, 4, 4])
    five._step({"tokens": tokens, "labels": labels.float()}, "val", five.val_metrics, five.val_loss)
    torch.testing.assert_close(five.val_loss.compute(), F.cross_entropy(five(tokens), labels))
    predicted = five(tokens).argmax(-1)
    assert five.val_metrics.compute()["val/acc"] == (predicted == labels).float().mean()
    recall = five.per_class["val"].compute()["val/recall"]
    for index in range(5):
        chosen = labels == index
        torch.testing.assert_close(recall[index], (predicted[chosen] == index).float().mean())


def _tokenizer_json() -> str:
    return WordTokenizer.fit(["a b c d e"], 30).to_json()


def test_class_names_in_metric_keys_and_prediction_columns():
    assert [metric_key(name) for name in ["very negative", "a/b", " x  y "]] == ["very_negative", "a_b", "x_y"]
    assert probability_columns(["neg", "pos"]) == ["p_positive"]
    assert probability_columns(["DESC", "ENTY", "ABBR"]) == ["p_DESC", "p_ENTY", "p_ABBR"]
    assert predicted_label([0.2, 0.5, 0.3], ["DESC", "ENTY", "ABBR"]) == "ENTY"
    assert predicted_label([0.7], ["neg", "pos"]) == "pos" and predicted_label([0.3], ["neg", "pos"]) == "neg"


def test_a_checkpoint_from_before_classes_loads_as_the_binary_network(tmp_path):
    from rnn_sentiment.core.checkpoints import load_module

    binary = module(2)
    pre = {"tokenizer": _tokenizer_json(), "max_len": 7, "padding": "pre", "truncating": "pre", "batching": "fixed",
           "label_names": ["neg", "pos"], "task": "sentiment"}
    hyper_parameters = {key: value for key, value in binary.hparams.items() if key != "num_classes"}
    torch.save({"hyper_parameters": hyper_parameters, "state_dict": binary.state_dict(), "preprocessing": pre},
               tmp_path / "old.ckpt")
    loaded = load_module(str(tmp_path / "old.ckpt"), SentimentClassifier, "sentiment")
    tokens = torch.randint(1, 30, (3, 7))
    assert loaded.hparams.num_classes == 2 and loaded.net.head.out_features == 1
    torch.testing.assert_close(loaded(tokens), binary.eval()(tokens), rtol=0, atol=0)


def test_each_split_reads_its_ids_through_its_own_class_names(tmp_path):
    train, test = class_rows(60, 22), class_rows(20, 23)
    folder = tmp_path / "d"
    folder.mkdir()
    class_label_dataset(train).to_parquet(folder / "train.parquet")
    reordered = CLASSES[::-1]  # the test file's ClassLabel lists the same classes the other way round
    class_label_dataset([dict(row, label=reordered.index(CLASSES[row["label"]])) for row in test], reordered).to_parquet(
        folder / "test.parquet")
    dm = datamodule(folder)
    assert dm.label_names == CLASSES and split_rows(dm, "test") == read_as(test)


def test_a_row_without_text_is_skipped_before_its_label_is_read(tmp_path):
    (tmp_path / "r.csv").write_text("text,label\ngood film,pos\nbad film,neg\n,\n  ,junk\n" + "fine film,pos\n" * 20)
    dm = datamodule(tmp_path / "r.csv", val_fraction=0.2)
    assert dm.label_names == ["neg", "pos"]  # 'junk' sits on a row without text: no class


def test_unlabelled_rows_and_a_fold_without_folds(tmp_path):
    write_train_test(tmp_path / "d", class_rows(60, 24), class_rows(20, 25))
    table = pq.read_table(tmp_path / "d" / "test.parquet")
    labels = table.column("label").to_pylist()
    labels[2] = -1
    table = table.set_column(table.schema.get_field_index("label"), "label", [np.array(labels, dtype=np.int64)])
    pq.write_table(table, tmp_path / "d" / "test.parquet")
    with pytest.raises(UserInputError, match="test.parquet: row 2 has label -1, which `datasets` uses for an unlabelled"):
        datamodule(tmp_path / "d")
    with pytest.raises(UserInputError, match=r"data.fold=3 needs data.folds \(the number of folds"):
        SentimentDataModule(path=str(tmp_path / "d"), fold=3)


@pytest.mark.parametrize("num_classes", [2, 5])
def test_explanations_are_gradient_times_input_of_the_explained_score(num_classes):
    """Two classes: of the logit (the positive class's log-odds); more: of the predicted class's
    log-probability. Each word's score is checked against a central difference of that score when the
    word's embedding is scaled along itself (d score / d eps = gradient · embedding)."""
    from rnn_sentiment.prediction.explanation import word_attributions

    net = module(num_classes).double().eval()
    names = CLASSES[:num_classes] if num_classes > 2 else ["neg", "pos"]
    net.set_preprocessing(Preprocessing("sentiment", WordTokenizer.from_json(_tokenizer_json()), Layout(7), tuple(names)))
    text = "a b c d"
    target, probability, scored = word_attributions(net, text)
    tokens = torch.tensor([[0, 0, 0, *(net.tokenizer.token_ids(text.split()))]])

    def explained(logits: torch.Tensor) -> torch.Tensor:
        return logits if num_classes == 2 else torch.log_softmax(logits, dim=-1)[target]

    def score(scale_id: int | None = None, eps: float = 0.0) -> torch.Tensor:
        with torch.no_grad():
            weight = net.net.embedding.weight
            saved = weight.clone()
            if scale_id is not None:
                weight[scale_id] *= 1 + eps  # moves that word's vector along itself
            value = explained(net(tokens)[0])
            weight.copy_(saved)
        return value

    logits = net(tokens)[0]
    if num_classes == 2:
        assert target == 1 and probability == pytest.approx(torch.sigmoid(logits).item())
    else:
        assert target == int(logits.argmax()) and probability == pytest.approx(score().exp().item())
    assert [word for word, _ in scored] == text.split()
    numeric = []
    for word_id in tokens[0, 3:].tolist():
        eps = 1e-6
        numeric.append(((score(word_id, eps) - score(word_id, -eps)) / (2 * eps)).item())
    assert [attribution for _, attribution in scored] == pytest.approx(numeric, rel=1e-4, abs=1e-9)
    assert any(value > 0 for value in numeric) and any(value < 0 for value in numeric)  # both signs checked


def test_nbsvm_predicts_the_class_ids_it_was_fitted_on():
    from rnn_sentiment import linear_baselines

    texts = ["good good", "good fine", "bad awful", "bad bad", "meh so so", "so meh"] * 5
    # two classes whose ids are not 0 and 1 (a ClassLabel's train split may hold any two), then three
    for rows, labels in ((texts[:4] * 5, [2, 2, 0, 0] * 5), (texts, [4, 4, 1, 1, 3, 3] * 5)):
        features = linear_baselines.ngram_vectorizer(max_n=1).fit_transform(rows)
        model = linear_baselines.NBSVM(C=1.0).fit(features, np.array(labels, dtype=np.float32))
        assert model.predict(features).tolist() == labels


def test_numeric_labels_take_the_class_names_given_and_named_classes_keep_theirs(tmp_path):
    frame = sentiment_frame(120, seed=5)  # labels 0 and 1, as IMDB's parquet files hold them
    (tmp_path / "imdb").mkdir()
    frame.to_parquet(tmp_path / "imdb" / "train.parquet")
    assert datamodule(tmp_path / "imdb", class_names=["neg", "pos"]).label_names == ["neg", "pos"]
    assert datamodule(tmp_path / "imdb").label_names == ["0", "1"]
    write_train_test(tmp_path / "named", class_rows(60, 3), class_rows(20, 4))  # a ClassLabel's own names
    assert datamodule(tmp_path / "named", class_names=["neg", "pos"]).label_names == CLASSES
    with pytest.raises(UserInputError) as error:
        datamodule(tmp_path / "imdb", class_names=["bad", "meh", "good"])
    assert str(error.value) == ("data.class_names=['bad', 'meh', 'good'] names 3 classes, but the data's labels are "
                                "0, 1; give one name per label in that order, or data.class_names=null")
