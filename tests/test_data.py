import json

import pytest
import torch

from conftest import sentiment_frame
from rnn_sentiment.core.batching import BatchIndexSampler, Layout
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.preprocessing import Preprocessing
from rnn_sentiment.data import SentimentDataModule


def datamodule(path, **options) -> SentimentDataModule:
    options = {"num_words": 50, "max_len": 12, "batch_size": 8, **options}
    dm = SentimentDataModule(path=str(path), **options)
    dm.setup("fit")
    return dm


def write_split_files(folder, fmt: str):
    folder.mkdir()
    for split, n in (("train", 60), ("test", 20)):
        frame = sentiment_frame(n, seed=len(split))
        if fmt == "parquet":
            frame.to_parquet(folder / f"{split}.parquet")
        elif fmt == "csv":
            frame.to_csv(folder / f"{split}.csv", index=False)
        else:
            frame.to_json(folder / f"{split}.jsonl", orient="records", lines=True)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_folder_of_split_files(tmp_path, fmt):
    write_split_files(tmp_path / fmt, fmt)
    dm = datamodule(tmp_path / fmt)
    sizes = {name: len(ds) for name, ds in dm.datasets.items()}
    assert sizes == {"train": 54, "val": 6, "test": 20}
    assert dm.label_names == ["0", "1"]


def test_validation_file_and_val_on_test(tmp_path):
    write_split_files(tmp_path / "d", "csv")
    sentiment_frame(10, seed=9).to_csv(tmp_path / "d" / "validation.csv", index=False)
    assert len(datamodule(tmp_path / "d").datasets["val"]) == 10
    assert len(datamodule(tmp_path / "d", val_on_test=True).datasets["val"]) == 20


def test_single_file_with_string_labels_and_other_columns(tmp_path):
    frame = sentiment_frame(100, seed=3)
    frame = frame.rename(columns={"text": "review", "label": "sentiment"})
    frame["sentiment"] = frame["sentiment"].map({0: "negative", 1: "positive"})
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    dm = datamodule(tmp_path / "reviews.csv", text_column="review", label_column="sentiment")
    assert dm.label_names == ["negative", "positive"]
    assert {name: len(ds) for name, ds in dm.datasets.items()} == {"train": 72, "val": 8, "test": 20}
    labels = torch.cat([ds.labels for ds in dm.datasets.values()])
    assert labels.sum() == (frame["sentiment"] == "positive").sum()


def test_acl_imdb_folder(tmp_path):
    for split in ("train", "test"):
        for label, word in (("neg", "awful"), ("pos", "great")):
            folder = tmp_path / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(6):
                (folder / f"{i}_1.txt").write_text(f"A {word} film number {i}.")
    dm = datamodule(tmp_path / "aclImdb", val_fraction=0.25)
    assert dm.label_names == ["neg", "pos"]
    assert len(dm.datasets["test"]) == 12
    assert dm.tokenizer.words("A GREAT film") == ["a", "great", "film"]


def test_tokenizer_is_fitted_on_train_only(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    sentiment_frame(40, seed=1).to_parquet(folder / "train.parquet")
    test = sentiment_frame(10, seed=2)
    test.loc[0, "text"] = "zyzzyva " * 5
    test.to_parquet(folder / "test.parquet")
    dm = datamodule(folder)
    assert "zyzzyva" not in dm.tokenizer.id_to_word


def test_fixed_batches_are_padded_to_max_len(imdb_dir):
    dm = datamodule(imdb_dir, batching="fixed", padding="pre")
    batch = next(iter(dm.train_dataloader()))
    assert batch["tokens"].shape == (8, 12)
    assert "lengths" not in batch  # pre-padded: the last position is the last token
    assert batch["tokens"].dtype == torch.long and batch["labels"].dtype == torch.float32


def test_bucket_batches_group_lengths_and_pad_to_longest(imdb_dir):
    dm = datamodule(imdb_dir, batching="bucket", max_len=500)
    widths = []
    for batch in dm.val_dataloader():
        lengths, tokens = batch["lengths"], batch["tokens"]
        assert tokens.shape[1] == lengths.max()
        assert (tokens[torch.arange(len(lengths)), lengths - 1] != 0).all()  # post-padded, real last token
        widths.append(tokens.shape[1])
    assert widths == sorted(widths)
    full = dm.datasets["val"].lengths.max()
    assert min(widths) < full


def test_sampler_splits_batches_across_ranks(monkeypatch):
    sampler = BatchIndexSampler(torch.arange(50), batch_size=4, shuffle=True, by_length=True, seed=3)
    seen = []
    for rank in (0, 1):
        monkeypatch.setattr(BatchIndexSampler, "_rank_and_world", lambda self, r=rank: (r, 2))
        batches = list(sampler)
        assert len(batches) == len(sampler) == 7
        seen.append({i for b in batches for i in b})
    assert seen[0] | seen[1] == set(range(50))
    sampler.set_epoch(1)
    assert list(sampler) != batches


def test_shuffled_epochs_mix_rows_into_new_batches_and_evaluation_keeps_its_order():
    lengths = torch.full((64,), 5)
    train = BatchIndexSampler(lengths, batch_size=8, shuffle=True, by_length=False)
    first = {frozenset(batch) for batch in train}
    train.set_epoch(1)
    assert first != {frozenset(batch) for batch in train}  # not only the batches' order
    evaluation = BatchIndexSampler(lengths, batch_size=8, shuffle=False, by_length=False, even_shards=False)
    assert [row for batch in evaluation for row in batch] == list(range(64))


def test_one_process_draws_every_row_once_an_epoch():
    lengths = torch.randint(1, 30, (53,))
    for shuffle, even_shards in ((True, True), (False, False)):
        sampler = BatchIndexSampler(lengths, batch_size=8, shuffle=shuffle, by_length=True, even_shards=even_shards)
        rows = [row for batch in sampler for row in batch]
        assert sorted(rows) == list(range(53)) and len(sampler) == 7


def test_a_loaders_saved_position_resumes_in_a_new_loader_after_the_batches_drawn(imdb_dir):
    assert datamodule(imdb_dir).train_dataloader().state_dict() == {"epoch": 0, "drawn": 0}  # before any batch
    first = datamodule(imdb_dir).train_dataloader()
    first.sampler.set_epoch(3)
    iterator = iter(first)
    drawn = [next(iterator)["labels"].tolist() for _ in range(5)]
    state = first.state_dict()
    assert state == {"epoch": 3, "drawn": 5}
    rest = [batch["labels"].tolist() for batch in iterator]
    second = datamodule(imdb_dir).train_dataloader()
    second.load_state_dict(state)
    assert [batch["labels"].tolist() for batch in second] == rest and len(drawn) + len(rest) == len(second)


def test_second_setup_reads_the_cache(imdb_dir, monkeypatch):
    datamodule(imdb_dir)

    def no_rebuild(self):
        raise AssertionError("tokenized again instead of reading the cache")

    monkeypatch.setattr(SentimentDataModule, "build", no_rebuild)
    dm = datamodule(imdb_dir)
    assert len(dm.datasets["train"]) == 288
    with pytest.raises(AssertionError):
        datamodule(imdb_dir, num_words=60)  # another vocabulary is another cache entry


@pytest.mark.parametrize("edit", ["labels", "texts"])
def test_a_data_file_edited_after_its_cache_was_built_is_read_again(tmp_path, edit):
    folder = tmp_path / "data"
    folder.mkdir()
    frame = sentiment_frame(200, seed=1)
    frame.to_csv(folder / "train.csv", index=False)
    sentiment_frame(60, seed=2).to_csv(folder / "test.csv", index=False)
    before = datamodule(folder)
    first_file = before.cache_file()
    if edit == "labels":  # same size, same texts: only the cache key's modification time changes
        frame.loc[:39, "label"] = 1
    else:
        frame["text"] = frame["text"].str.replace("great", "grand")
    frame.to_csv(folder / "train.csv", index=False)
    after = datamodule(folder)
    assert first_file.exists() and first_file != after.cache_file()
    assert [len(after.datasets[s]) for s in ("train", "val")] == [len(before.datasets[s]) for s in ("train", "val")]
    vocabulary = set(json.loads(after.tokenizer.to_json())["model"]["vocab"])
    assert ("grand" in vocabulary) == (edit == "texts")
    positives = [sum(int(dm.datasets[s].labels.sum()) for s in ("train", "val")) for dm in (before, after)]
    assert positives[1] == int(frame["label"].sum()) and (positives[0] != positives[1]) == (edit == "labels")


def test_preprocessing_travels_as_json_and_reads_back_whole(imdb_dir):
    pre = datamodule(imdb_dir).preprocessing()
    plain = pre.to_plain()
    assert json.loads(json.dumps(plain)) == plain  # strings, numbers and lists only
    again = Preprocessing.from_plain(json.loads(json.dumps(plain)))
    assert (again.task, again.layout, again.label_names) == ("sentiment", pre.layout, pre.label_names)
    assert again.layout.max_len == 12 and again.label_names == ("0", "1")
    assert again.tokenizer.to_json() == pre.tokenizer.to_json()
    assert Preprocessing.from_plain({"task": "lm", "tokenizer": plain["tokenizer"]}).layout is None


def test_preprocessing_of_an_older_checkpoint_takes_the_defaults_it_was_written_with(imdb_dir):
    plain = datamodule(imdb_dir).preprocessing().to_plain()
    older = Preprocessing.from_plain({"tokenizer": plain["tokenizer"], "max_len": 9})
    assert (older.task, older.layout, older.label_names) == ("sentiment", Layout(9, "pre", "pre", "fixed"), ("neg", "pos"))


# bad input: one clear error that names the thing and the fix
def test_missing_path(tmp_path):
    with pytest.raises(UserInputError, match="data.path=.*nope: no such file"):
        SentimentDataModule(path=str(tmp_path / "nope"))


def test_missing_text_column(imdb_dir):
    with pytest.raises(UserInputError, match=r"train.parquet: no text column 'review' \(columns: text, label\); set data.text_column"):
        datamodule(imdb_dir, text_column="review")


def test_missing_label_column(imdb_dir):
    with pytest.raises(UserInputError, match="no label column 'stars'.*data.label_column"):
        datamodule(imdb_dir, label_column="stars")


def test_empty_dataset(tmp_path):
    (tmp_path / "empty.csv").write_text("text,label\n")
    with pytest.raises(UserInputError, match="empty.csv: the training split is empty"):
        datamodule(tmp_path / "empty.csv")


def test_empty_text_names_the_row_when_refused(tmp_path):
    frame = sentiment_frame(30, seed=1)
    frame.loc[7, "text"] = "   "
    frame.to_json(tmp_path / "r.jsonl", orient="records", lines=True)
    with pytest.raises(UserInputError, match="r.jsonl: row 7 has an empty or missing text in 'text'; remove that row"):
        datamodule(tmp_path / "r.jsonl", empty_texts="error")


def test_non_utf8_file(tmp_path):
    (tmp_path / "latin.csv").write_bytes("text,label\ncaf\xe9 great,1\nbad film,0\n".encode("latin-1"))
    with pytest.raises(UserInputError, match=r"latin.csv, line 2: not valid UTF-8 \(byte 0xe9 at column 4\); re-encode"):
        datamodule(tmp_path / "latin.csv")


def test_test_label_outside_training_classes(tmp_path):
    write_split_files(tmp_path / "d", "csv")
    frame = sentiment_frame(20, seed=5)
    frame["label"] = frame["label"].map({0: "0", 1: "1"})
    frame.loc[4, "label"] = "maybe"
    frame.to_csv(tmp_path / "d" / "test.csv", index=False)
    with pytest.raises(UserInputError, match="test.csv: row 4 has label 'maybe'"):
        datamodule(tmp_path / "d")


@pytest.mark.parametrize(
    "option, message",
    [({"max_len": 0}, "data.max_len=0"), ({"num_words": 2}, "data.num_words=2"),
     ({"batching": "sorted"}, "data.batching='sorted'"), ({"padding": "both"}, "data.padding='both'")],
)
def test_bad_options(imdb_dir, option, message):
    with pytest.raises(UserInputError, match=message):
        SentimentDataModule(path=str(imdb_dir), **option)


def test_training_data_without_a_seed_is_a_one_line_error(imdb_dir):
    with pytest.raises(UserInputError, match=r"^seed=null: training needs a whole-number seed .*; give one, e.g. seed=42$"):
        SentimentDataModule(path=str(imdb_dir), seed=None)
