"""The language model as a LightningModule: cross-entropy, Adam, perplexity, samples in TensorBoard."""

import torch
from torchmetrics import MeanMetric

from lm.network import WordLSTM
from lm.sampling import generate
from rnn_sentiment.core.tensorboard import log_embeddings, writer_of
from rnn_sentiment.core.module_base import TextModule, plain


class LanguageModel(TextModule):
    """The word-level language model `net` (a `WordLSTM`, configured by `model.net`): next-word
    cross-entropy, Adam, perplexity, samples and embeddings in TensorBoard."""

    network = WordLSTM
    network_name = "language model"

    def __init__(
        self,
        vocab_size: int,
        net: dict,
        lr: float = 0.005,
        weight_decay: float = 0.0,
        lr_decay: float = 1.0,
        carry_state: bool = False,
        sample_seed_text: str = "ship",
        sample_words: int = 20,
        num_logged_samples: int = 3,
    ):
        super().__init__()
        net = plain(net)
        self.save_hyperparameters()
        self.net = WordLSTM(vocab_size, **net)
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        # truncated BPTT carries the LSTM state between batches; training and
        # evaluation keep their own, so a validation run mid-epoch cannot clobber it
        self._carried = {"train": None, "eval": None}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["carried_state"] = self._carried["train"]  # so a run resumed mid-epoch goes on exactly

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        self._carried["train"] = checkpoint.get("carried_state")

    def forward(self, tokens: torch.Tensor, state=None):
        return self.net(tokens, state)

    def _loss(self, batch: dict, stage: str) -> torch.Tensor:
        # With carry_state the batches are consecutive windows of the same streams
        # (truncated BPTT): the state flows on, gradients stop at the window edge.
        state = self._carried[stage] if self.hparams.carry_state else None
        loss, state = self.net.loss(batch["tokens"], batch["targets"], state)
        if self.hparams.carry_state:
            self._carried[stage] = tuple(s.detach() for s in state)
        return loss

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
        optimizer = self.adam(self.parameters(), self.hparams.lr, self.hparams.weight_decay)
        if self.hparams.lr_decay >= 1.0:
            return optimizer
        # word_language_model's schedule: shrink the learning rate whenever an epoch fails to lower val/ppl
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=self.hparams.lr_decay,
                                                             patience=0)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "val/ppl"}}
