"""The language model as a LightningModule: cross-entropy, Adam, perplexity, samples in TensorBoard."""

import torch
from lightning import LightningModule
from lightning.pytorch.utilities import rank_zero_info
from torch.nn import functional as F
from torchmetrics import MeanMetric

from lm.network import WordLSTM
from lm.sampling import generate
from rnn_sentiment.core.tensorboard import log_embeddings, writer_of
from rnn_sentiment.core.text import WordTokenizer


class LanguageModel(LightningModule):
    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 100,
        hidden_size: int = 500,
        num_layers: int = 1,
        dropout: float = 0.0,
        tie_weights: bool = False,
        lr: float = 0.005,
        weight_decay: float = 0.0,
        lr_decay: float = 1.0,
        carry_state: bool = False,
        sample_seed_text: str = "ship",
        sample_words: int = 20,
        num_logged_samples: int = 3,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.net = WordLSTM(vocab_size, embed_dim, hidden_size, num_layers, dropout, tie_weights)
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self.preprocessing: dict | None = None
        self.tokenizer: WordTokenizer | None = None
        # truncated BPTT carries the LSTM state between batches; training and
        # evaluation keep their own, so a validation run mid-epoch cannot clobber it
        self._carried = {"train": None, "eval": None}

    def set_preprocessing(self, preprocessing: dict) -> None:
        self.preprocessing = preprocessing
        self.tokenizer = WordTokenizer.from_json(preprocessing["tokenizer"])

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["preprocessing"] = self.preprocessing
        checkpoint["carried_state"] = self._carried["train"]  # so a run resumed mid-epoch goes on exactly

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.set_preprocessing(checkpoint["preprocessing"])
        self._carried["train"] = checkpoint.get("carried_state")

    def forward(self, tokens: torch.Tensor, state=None):
        return self.net(tokens, state)

    def on_fit_start(self) -> None:
        total = sum(p.numel() for p in self.net.parameters())
        extra = 4 * self.net.lstm.hidden_size * self.net.lstm.num_layers
        rank_zero_info(f"language model: {total:,} parameters ({total - extra:,} as Keras counts them)")

    def _loss(self, batch: dict, stage: str) -> torch.Tensor:
        # With carry_state the batches are consecutive windows of the same streams
        # (truncated BPTT): the state flows on, gradients stop at the window edge.
        state = self._carried[stage] if self.hparams.carry_state else None
        logits, state = self(batch["tokens"], state)
        if self.hparams.carry_state:
            self._carried[stage] = tuple(s.detach() for s in state)
        return F.cross_entropy(logits.flatten(0, 1), batch["targets"].flatten())

    def on_train_epoch_start(self) -> None:  # not called when resuming mid-epoch
        self._carried["train"] = None

    def _reset_eval_state(self) -> None:
        self._carried["eval"] = None

    on_validation_epoch_start = on_test_epoch_start = _reset_eval_state

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch, "train")
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=batch["targets"].numel())
        self.log("train/loss_step", loss, on_step=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.val_loss.update(self._loss(batch, "eval"), weight=batch["targets"].numel())

    def test_step(self, batch, batch_idx):
        self.test_loss.update(self._loss(batch, "eval"), weight=batch["targets"].numel())

    def _log_perplexity(self, stage: str, metric: MeanMetric) -> None:
        loss = metric.compute()
        metric.reset()
        self.log(f"{stage}/loss", loss, prog_bar=True)
        self.log(f"{stage}/ppl", torch.exp(loss), prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        self._log_perplexity("val", self.val_loss)
        writer = writer_of(self)
        if writer is not None and not self.trainer.sanity_checking:
            self._log_samples(writer)

    def on_test_epoch_end(self) -> None:
        self._log_perplexity("test", self.test_loss)

    def on_fit_end(self) -> None:
        writer = writer_of(self)
        if writer is not None:
            log_embeddings(writer, self.net.embedding.weight, self.tokenizer, self.global_step)

    def _log_samples(self, writer) -> None:
        seed_words = self.hparams.sample_seed_text.split()
        generator = torch.Generator(device=self.device).manual_seed(self.current_epoch)
        ids = generate(self.net, self.tokenizer.token_ids(seed_words), self.hparams.sample_words,
                       temperature=1.0, num_samples=self.hparams.num_logged_samples, generator=generator)
        lines = [f"{i + 1}. **{' '.join(seed_words)}** {self.tokenizer.decode(row.tolist())}" for i, row in enumerate(ids)]
        writer.add_text("samples/temperature_1", "\n".join(lines), self.global_step)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay, fused=True
        )
        if self.hparams.lr_decay >= 1.0:
            return optimizer
        # word_language_model's schedule: shrink the learning rate whenever an epoch fails to lower val/ppl
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=self.hparams.lr_decay,
                                                             patience=0)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "val/ppl"}}
