"""The sentiment classifier as a LightningModule: BCE on logits, Adam, torchmetrics."""

import torch
from lightning import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryF1Score

from rnn_sentiment.core.batching import Layout
from rnn_sentiment.core.distributed import gather_uneven
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.tensorboard import log_classification_figures, log_embeddings, writer_of
from rnn_sentiment.core.text import WordTokenizer
from rnn_sentiment.keras_compat import ADAMS, LOSSES, KerasAdam, binary_cross_entropy
from rnn_sentiment.networks import RecurrentClassifier


class SentimentClassifier(LightningModule):
    def __init__(
        self,
        vocab_size: int,
        cell: str = "lstm",
        embed_dim: int = 32,
        hidden_size: int = 100,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        conv_channels: int = 0,
        conv_kernel: int = 3,
        pool_size: int = 2,
        init: str = "keras",
        pooling: str = "last",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        keras_padding_embedding: bool = False,
        single_bias: bool = False,
        fast_padding: bool = True,
        loss: str = "logits",
        adam: str = "torch",
        adam_eps: float = 1e-8,
    ):
        super().__init__()
        if loss not in LOSSES:
            raise UserInputError(f"model.loss={loss!r} is unknown; use one of {', '.join(LOSSES)}")
        if adam not in ADAMS:
            raise UserInputError(f"model.adam={adam!r} is unknown; use one of {', '.join(ADAMS)}")
        if not adam_eps > 0:
            raise UserInputError(f"model.adam_eps={adam_eps} must be positive")
        self.save_hyperparameters()
        self.net = RecurrentClassifier(
            vocab_size, cell, embed_dim, hidden_size, num_layers, bidirectional, dropout,
            conv_channels, conv_kernel, pool_size, init, pooling,
            keras_padding_embedding=keras_padding_embedding, single_bias=single_bias, fast_padding=fast_padding,
        )
        self.train_metrics = MetricCollection({"acc": BinaryAccuracy()}, prefix="train/")
        eval_metrics = MetricCollection({"acc": BinaryAccuracy(), "f1": BinaryF1Score(), "auroc": BinaryAUROC()})
        self.val_metrics = eval_metrics.clone(prefix="val/")
        self.test_metrics = eval_metrics.clone(prefix="test/")
        # Weighted means that sync their sums. Lightning's own `sync_dist` mean divides the summed batch
        # sizes (an integer) by the world size, rounding down: wrong when the shards' sizes differ.
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.preprocessing: dict | None = None
        self.tokenizer: WordTokenizer | None = None
        self._test_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def set_preprocessing(self, preprocessing: dict) -> None:
        """Tokenizer and padding settings; saved in every checkpoint so it predicts alone."""
        self.preprocessing = preprocessing
        self.tokenizer = WordTokenizer.from_json(preprocessing["tokenizer"])
        self.example_input_array = torch.zeros(1, preprocessing["max_len"], dtype=torch.long)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["preprocessing"] = self.preprocessing

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.set_preprocessing(checkpoint["preprocessing"])

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(tokens, lengths)

    def on_fit_start(self) -> None:
        total = sum(p.numel() for p in self.net.parameters())
        keras = total - self.net.extra_bias_parameters()
        rank_zero_info(
            f"{self.hparams.cell} classifier: {total:,} parameters "
            f"({keras:,} as Keras counts them: PyTorch RNNs carry a second bias per gate"
            f"{', fixed at zero here' if self.hparams.single_bias else ''})"
        )

    def _step(self, batch: dict, stage: str, metrics: MetricCollection, mean_loss: MeanMetric | None = None):
        logits = self(batch["tokens"], batch.get("lengths"))
        # probabilities, not logits: torchmetrics applies a sigmoid only to a batch holding a value outside [0, 1]
        probabilities = torch.sigmoid(logits.detach().float())
        if stage == "test":
            self._test_outputs.append((probabilities, batch["labels"]))
        loss = binary_cross_entropy(logits, batch["labels"], self.hparams.loss)
        size = len(logits)
        if mean_loss is None:  # training: this rank's running mean
            self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=size)
            self.log("train/loss_step", loss, on_step=True, prog_bar=True)
        else:
            mean_loss.update(loss.detach(), weight=size)
            self.log(f"{stage}/loss", mean_loss, on_step=False, on_epoch=True, prog_bar=True)
        metrics.update(probabilities, batch["labels"].long())
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage != "train", batch_size=size)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train", self.train_metrics)

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val", self.val_metrics, self.val_loss)

    def test_step(self, batch, batch_idx):
        self._step(batch, "test", self.test_metrics, self.test_loss)

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def on_test_epoch_end(self) -> None:
        nothing = torch.zeros(0, device=self.device)  # a rank without test batches still joins the gathers
        outputs = zip(*(self._test_outputs or [(nothing, nothing)]))
        probabilities, labels = (gather_uneven(self, torch.cat(parts)) for parts in outputs)
        if len(labels) == 0:
            return
        writer = writer_of(self)
        if writer is not None:
            log_classification_figures(writer, probabilities.cpu(), labels.cpu(), self.preprocessing["label_names"],
                                       self.global_step)
        self._test_outputs = []

    def on_fit_end(self) -> None:
        writer = writer_of(self)
        if writer is not None:
            log_embeddings(writer, self.net.embedding.weight, self.tokenizer, self.global_step)

    def configure_optimizers(self):
        trained = [p for p in self.parameters() if p.requires_grad]  # not a bias fixed by single_bias
        hp = self.hparams
        if hp.adam == "keras":
            return KerasAdam(trained, lr=hp.lr, eps=hp.adam_eps, weight_decay=hp.weight_decay)
        return torch.optim.Adam(trained, lr=hp.lr, eps=hp.adam_eps, weight_decay=hp.weight_decay, fused=True)

    def predict_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """Positive-class probability (B,) float32 of a batch laid out as in training: `tokens` (B, T),
        `lengths` (B,) with bucket batching."""
        return torch.sigmoid(self(batch["tokens"], batch.get("lengths")).float())

    @torch.no_grad()
    def predict_proba(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Positive-class probability of each raw text, from the checkpoint's own preprocessing."""
        pre = self.preprocessing
        layout = Layout(pre["max_len"], pre["padding"], pre["truncating"], pre["batching"])
        matrix, kept = layout.matrix(*self.tokenizer.encode_ragged(texts))
        self.eval()
        probabilities = []
        for index in torch.arange(len(texts)).split(batch_size):
            batch = {k: v.to(self.device) for k, v in layout.batch(matrix, kept, index).items()}
            probabilities.append(self.predict_step(batch, 0).cpu())
        return torch.cat(probabilities) if probabilities else torch.zeros(0)
