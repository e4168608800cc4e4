"""The sentiment classifier as a LightningModule: BCE on logits, Adam, torchmetrics."""

import torch
from lightning import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from torch.nn import functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryF1Score

from rnn_sentiment.data import Layout
from rnn_sentiment.models import RecurrentClassifier
from rnn_sentiment.tensorboard import log_classification_figures, log_embeddings, writer_of
from rnn_sentiment.text import WordTokenizer


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
    ):
        super().__init__()
        self.save_hyperparameters()
        self.net = RecurrentClassifier(
            vocab_size, cell, embed_dim, hidden_size, num_layers, bidirectional, dropout,
            conv_channels, conv_kernel, pool_size, init, pooling,
        )
        self.train_metrics = MetricCollection({"acc": BinaryAccuracy()}, prefix="train/")
        eval_metrics = MetricCollection({"acc": BinaryAccuracy(), "f1": BinaryF1Score(), "auroc": BinaryAUROC()})
        self.val_metrics = eval_metrics.clone(prefix="val/")
        self.test_metrics = eval_metrics.clone(prefix="test/")
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
            f"({keras:,} as Keras counts them: PyTorch RNNs carry a second bias per gate)"
        )

    def _step(self, batch: dict, stage: str, metrics: MetricCollection) -> torch.Tensor:
        logits = self(batch["tokens"], batch.get("lengths"))
        if stage == "test":
            self._test_outputs.append((torch.sigmoid(logits.detach().float()), batch["labels"]))
        loss = F.binary_cross_entropy_with_logits(logits, batch["labels"])
        size = len(logits)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=stage != "train", batch_size=size,
                 sync_dist=stage != "train")
        if stage == "train":
            self.log("train/loss_step", loss, on_step=True, prog_bar=True)
        metrics.update(logits.detach(), batch["labels"].long())
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage != "train", batch_size=size)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train", self.train_metrics)

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val", self.val_metrics)

    def test_step(self, batch, batch_idx):
        self._step(batch, "test", self.test_metrics)

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def on_test_epoch_end(self) -> None:
        if not self._test_outputs:
            return
        probabilities, labels = (torch.cat(parts) for parts in zip(*self._test_outputs))
        probabilities, labels = self.all_gather(probabilities).flatten(), self.all_gather(labels).flatten()
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
        return torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay, fused=True
        )

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
