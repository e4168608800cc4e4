"""What turns raw text into a network's input: the fitted tokenizer and, for a classifier, the
padding layout and the class names. A DataModule declares it (`preprocessing()`), the module keeps
it, and every checkpoint carries it as plain data under `"preprocessing"` (read back with
`weights_only=True`); `to_plain` and `from_plain` are the one place that format is written and read."""

from dataclasses import dataclass

from rnn_sentiment.core.batching import Layout
from rnn_sentiment.core.text import WordTokenizer

# checkpoints written before class names existed were IMDB's two classes
BINARY_NAMES = ("neg", "pos")


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """`task`: `sentiment` (a classifier: `layout` and `label_names` set) or `lm` (the tokenizer alone)."""

    task: str
    tokenizer: WordTokenizer
    layout: Layout | None = None
    label_names: tuple[str, ...] = ()

    def to_plain(self) -> dict:
        """The checkpoint's `"preprocessing"` entry: strings, numbers and lists only."""
        plain = {"task": self.task, "tokenizer": self.tokenizer.to_json()}
        if self.layout is not None:
            layout = self.layout
            plain.update(max_len=layout.max_len, padding=layout.padding, truncating=layout.truncating,
                         batching=layout.batching, label_names=list(self.label_names))
        return plain

    @classmethod
    def from_plain(cls, plain: dict) -> "Preprocessing":
        """`to_plain`'s dict read back; older checkpoints' missing entries take the defaults they were
        written with (Keras' pre-padding and truncation, fixed batches, two classes)."""
        tokenizer = WordTokenizer.from_json(plain["tokenizer"])
        if "max_len" not in plain:
            return cls(plain.get("task", "lm"), tokenizer)
        layout = Layout(plain["max_len"], plain.get("padding", "pre"), plain.get("truncating", "pre"),
                        plain.get("batching", "fixed"))
        return cls(plain.get("task", "sentiment"), tokenizer, layout, tuple(plain.get("label_names", BINARY_NAMES)))
