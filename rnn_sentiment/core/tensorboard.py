"""What the modules write to TensorBoard besides scalars: embeddings, PR curve, confusion matrix."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.loggers import TensorBoardLogger  # noqa: E402

from rnn_sentiment.core.text import WordTokenizer  # noqa: E402


def writer_of(module):
    """The SummaryWriter of the trainer's TensorBoard logger, among any others, on rank 0 only; else None
    (no TensorBoard logger, e.g. `logger=csv`): the figures, projector and samples are then skipped."""
    if not module.trainer.is_global_zero:
        return None
    return next((logger.experiment for logger in module.loggers if isinstance(logger, TensorBoardLogger)), None)


def log_embeddings(writer, weight: torch.Tensor, tokenizer: WordTokenizer, step: int, most_frequent: int = 2000):
    """The embedding rows of the most frequent words, labelled with their words, for the projector."""
    count = min(most_frequent, tokenizer.vocab_size - 2)
    ids = torch.arange(2, 2 + count)  # skip padding and unknown
    words = [tokenizer.id_to_word[i] for i in ids]
    writer.add_embedding(weight.detach()[ids].float().cpu(), metadata=words, global_step=step, tag="word_embeddings")


def log_classification_figures(writer, probabilities: torch.Tensor, labels: torch.Tensor, names: list[str], step: int):
    """The test PR curves and the confusion matrix figure. `labels`: (N,) class ids; `probabilities`:
    (N,) the second class's for two classes (one PR curve, `test/pr_curve`), else (N, C) (one-vs-rest
    curves, `test/pr_curve/<class>`); `names`: the class names in id order."""
    if probabilities.dim() == 1:
        writer.add_pr_curve("test/pr_curve", labels.int(), probabilities, global_step=step)
        predicted = (probabilities >= 0.5).long()
    else:
        for index, name in enumerate(names):
            tag = "test/pr_curve/" + "_".join(name.replace("/", " ").split())
            writer.add_pr_curve(tag, (labels == index).int(), probabilities[:, index], global_step=step)
        predicted = probabilities.argmax(dim=1)
    writer.add_figure("test/confusion_matrix", confusion_figure(confusion_matrix(labels.long(), predicted, len(names)), names),
                      global_step=step)


def confusion_matrix(labels: torch.Tensor, predicted: torch.Tensor, classes: int) -> torch.Tensor:
    """(classes, classes) counts: row = true class, column = predicted class."""
    matrix = torch.zeros(classes, classes, dtype=torch.long)
    matrix.index_put_((labels, predicted), torch.ones_like(predicted), accumulate=True)
    return matrix


def confusion_figure(matrix: torch.Tensor, names: list[str]):
    """The confusion matrix as a labelled heat map, counts written in the cells."""
    classes = len(names)
    size = 1.4 + 0.9 * classes
    figure, axis = plt.subplots(figsize=(size + 0.4, size))
    axis.imshow(matrix, cmap="Blues")
    for (row, column), value in zip(torch.cartesian_prod(torch.arange(classes), torch.arange(classes)).tolist(),
                                    matrix.flatten()):
        axis.text(column, row, f"{int(value):,}", ha="center", va="center",
                  color="white" if value > matrix.max() / 2 else "black")
    axis.set_xticks(range(classes), names, rotation=45 if classes > 2 else 0, ha="right" if classes > 2 else "center")
    axis.set_yticks(range(classes), names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    figure.tight_layout()
    return figure
