"""The sentiment classifier as a LightningModule: BCE on logits, Adam, torchmetrics."""

import math

import torch
from lightning.pytorch.trainer.states import TrainerFn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryF1Score

from rnn_sentiment.core.batching import Layout
from rnn_sentiment.core.distributed import gather_uneven
from rnn_sentiment.core.errors import UserInputError, check_choice
from rnn_sentiment.core.module_base import TextModule, plain
from rnn_sentiment.core.tensorboard import log_classification_figures, log_embeddings, writer_of
from rnn_sentiment.encoder import load_encoder
from rnn_sentiment.fine_tuning import check_fine_tuning_options, layer_groups, slanted_triangular
from rnn_sentiment.keras_compat import ADAMS, LOSSES, KerasAdam, binary_cross_entropy
from rnn_sentiment.networks import RecurrentClassifier


class SentimentClassifier(TextModule):
    """The classifier `net` (a `RecurrentClassifier`, configured by `model.net`) trained with binary
    cross-entropy and Adam; accuracy, F1 and AUROC per split, and test figures in TensorBoard."""

    network = RecurrentClassifier

    def __init__(
        self,
        vocab_size: int,
        net: dict,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        loss: str = "logits",
        adam: str = "torch",
        adam_eps: float = 1e-8,
        encoder_ckpt: str | None = None,
        lr_layer_decay: float = 1.0,
        gradual_unfreezing: bool = False,
        schedule: str = "constant",
        warmup_fraction: float = 0.1,
    ):
        super().__init__()
        check_choice("model.loss", loss, LOSSES)
        check_choice("model.adam", adam, ADAMS)
        if not adam_eps > 0:
            raise UserInputError(f"model.adam_eps={adam_eps} must be positive")
        check_fine_tuning_options(lr_layer_decay, schedule, warmup_fraction)
        net = plain(net)
        self.save_hyperparameters()
        self.net = RecurrentClassifier(vocab_size, **net)
        self.network_name = f"{self.net.cell} classifier"
        if encoder_ckpt:
            load_encoder(self.net, encoder_ckpt)
        self.layer_groups = layer_groups(self.net)  # head first, embedding last: fixed for the module's life
        self.train_metrics = MetricCollection({"acc": BinaryAccuracy()}, prefix="train/")
        eval_metrics = MetricCollection({"acc": BinaryAccuracy(), "f1": BinaryF1Score(), "auroc": BinaryAUROC()})
        self.val_metrics = eval_metrics.clone(prefix="val/")
        self.test_metrics = eval_metrics.clone(prefix="test/")
        # Weighted means that sync their sums. Lightning's own `sync_dist` mean divides the summed batch
        # sizes (an integer) by the world size, rounding down: wrong when the shards' sizes differ.
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self._test_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def set_preprocessing(self, preprocessing: dict) -> None:
        super().set_preprocessing(preprocessing)
        self.example_input_array = torch.zeros(1, preprocessing["max_len"], dtype=torch.long)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(tokens, lengths)

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

    def on_before_optimizer_step(self, optimizer) -> None:
        """Gradual unfreezing: in epoch e only the top e+1 layer groups (head first, embedding last)
        are stepped. Their gradients are dropped rather than never computed, so every parameter
        still takes part in the backward pass, as DDP requires; Adam skips a parameter without one.
        It depends on the epoch alone, so a run resumed mid-epoch steps exactly what it stepped."""
        if self.hparams.gradual_unfreezing:
            for group in self.layer_groups[self.current_epoch + 1 :]:
                for parameter in group:
                    parameter.grad = None

    def optimizer_groups(self) -> list[dict]:
        """Adam's parameter groups: one, or with `lr_layer_decay` > 1 one per layer group (head first),
        its learning rate divided by the decay once per group below the head."""
        hp = self.hparams
        fixed = {p for p in self.parameters() if not p.requires_grad}  # a bias fixed by single_bias
        if hp.lr_layer_decay == 1:
            return [{"params": [p for p in self.parameters() if p not in fixed]}]
        return [
            {"params": [p for p in group if p not in fixed], "lr": hp.lr / hp.lr_layer_decay**depth}
            for depth, group in enumerate(self.layer_groups)
        ]

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Before `fit(ckpt_path=…)` restores the optimizer: a resume whose settings give Adam other
        parameter groups than the checkpoint's (`model.lr_layer_decay` 1 against > 1, another number
        of layers) is a one-line error, not torch's traceback from `load_state_dict`. Loading for
        testing or prediction restores no optimizer and is not checked."""
        super().on_load_checkpoint(checkpoint)
        fitting = self._trainer is not None and self._trainer.state.fn == TrainerFn.FITTING
        for state in checkpoint.get("optimizer_states", [])[:1] if fitting else []:
            saved = [len(group["params"]) for group in state["param_groups"]]
            now = [len(group["params"]) for group in self.optimizer_groups()]
            if saved != now:
                was = checkpoint.get("hyper_parameters", {}).get("lr_layer_decay", 1.0)
                raise UserInputError(
                    f"the checkpoint's optimizer has parameter groups of {saved} tensors, these settings make {now}: "
                    f"resume with the settings it was trained with (its model.lr_layer_decay was {was}; the rest "
                    "is in its run's .hydra/config.yaml), or start a new run without ckpt_path"
                )

    def configure_optimizers(self):
        hp = self.hparams
        groups = self.optimizer_groups()
        if hp.adam == "keras":
            optimizer = KerasAdam(groups, lr=hp.lr, eps=hp.adam_eps, weight_decay=hp.weight_decay)
        else:
            optimizer = self.adam(groups, hp.lr, hp.weight_decay, hp.adam_eps)
        if hp.schedule == "constant":
            return optimizer
        total_steps = self.trainer.estimated_stepping_batches
        if not math.isfinite(total_steps):
            raise UserInputError(
                "model.schedule=slanted_triangular needs a known number of steps; set trainer.max_epochs or trainer.max_steps"
            )
        factor = slanted_triangular(int(total_steps), hp.warmup_fraction)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

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
