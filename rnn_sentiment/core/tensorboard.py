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
    """The test PR curve and a 2×2 confusion matrix figure; `probabilities` and `labels` are (N,)
    tensors of the positive class's probability and the 0/1 labels, `names` the two class names."""
    writer.add_pr_curve("test/pr_curve", labels.int(), probabilities, global_step=step)
    predicted = (probabilities >= 0.5).long()
    matrix = torch.zeros(2, 2, dtype=torch.long)
    matrix.index_put_((labels.long(), predicted), torch.ones_like(predicted), accumulate=True)
    figure, axis = plt.subplots(figsize=(3.6, 3.2))
    axis.imshow(matrix, cmap="Blues")
    for (row, column), value in zip(torch.cartesian_prod(torch.arange(2), torch.arange(2)).tolist(), matrix.flatten()):
        axis.text(column, row, f"{int(value):,}", ha="center", va="center",
                  color="white" if value > matrix.max() / 2 else "black")
    axis.set_xticks([0, 1], names)
    axis.set_yticks([0, 1], names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    figure.tight_layout()
    writer.add_figure("test/confusion_matrix", figure, global_step=step)
