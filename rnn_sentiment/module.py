"""The text classifier as a LightningModule: cross-entropy (binary for two classes), Adam, torchmetrics."""

import math

import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryF1Score,
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from rnn_sentiment.adversarial import adversarial_loss, check_adversarial_options, virtual_adversarial_loss
from rnn_sentiment.core.preprocessing import Preprocessing
from rnn_sentiment.core.distributed import gather_uneven
from rnn_sentiment.core.errors import UserInputError, check_choice
from rnn_sentiment.core.module_base import TextModule, plain
from rnn_sentiment.core.tensorboard import log_classification_figures, log_embeddings, writer_of
from rnn_sentiment.pretrained_encoder import load_encoder, read_standardized_embeddings
from rnn_sentiment.fine_tuning import check_fine_tuning_options, layer_groups, slanted_triangular
from rnn_sentiment.keras_compat import ADAMS, LOSSES, KerasAdam, binary_cross_entropy, categorical_cross_entropy
from rnn_sentiment.network import RecurrentClassifier


def metric_key(class_name: str) -> str:
    """A class name as a metric name's last part: `very negative` → `very_negative`."""
    return "_".join(class_name.replace("/", " ").split()) or "_"


class SentimentClassifier(TextModule):
    """The classifier `net` (a `RecurrentClassifier`, configured by `model.net`) trained with Adam.

    Two classes (`num_classes=2`, the tutorial): one logit, binary cross-entropy; accuracy, F1 and
    AUROC. More: one logit per class, cross-entropy; accuracy, macro-F1, and each class's precision,
    recall and F1 (`val/f1/<class name>`). Test figures (PR curves, confusion matrix) in TensorBoard.
    `adversarial` and `virtual_adversarial` (> 0: the perturbation's norm) add the losses of
    `rnn_sentiment/adversarial.py` in training; `train/loss` stays the plain classification loss.
    """

    network = RecurrentClassifier

    def __init__(
        self,
        vocab_size: int,
        net: dict,
        num_classes: int = 2,
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
        adversarial: float = 0.0,
        virtual_adversarial: float = 0.0,
    ):
        super().__init__()
        check_choice("model.loss", loss, LOSSES)
        check_choice("model.adam", adam, ADAMS)
        if not adam_eps > 0:
            raise UserInputError(f"model.adam_eps={adam_eps} must be positive")
        check_fine_tuning_options(lr_layer_decay, schedule, warmup_fraction)
        check_adversarial_options(adversarial, virtual_adversarial, bool(net.get("normalize_embeddings")))
        if not isinstance(num_classes, int) or num_classes < 2:
            raise UserInputError(f"num_classes={num_classes!r}: a classifier needs two or more classes")
        net = plain(net)
        self.save_hyperparameters()
        self.net = RecurrentClassifier(vocab_size, num_classes, **net)
        self.binary = num_classes == 2
        self.network_name = f"{'conv-' if self.net.conv is not None else ''}{'bi' * (self.net.directions == 2)}" \
                            f"{self.net.cell} classifier"
        if encoder_ckpt:
            load_encoder(self.net, encoder_ckpt)
        # the language model read raw embeddings: its first layer adapts to standardized ones when the
        # word counts are known (fit start), unless a checkpoint's weights, adapted already, replace it
        self._encoder_reads_raw_embeddings = bool(encoder_ckpt) and self.net.normalize_embeddings
        self.layer_groups = layer_groups(self.net)  # head first, embedding last: fixed for the module's life
        if self.binary:
            self.train_metrics = MetricCollection({"acc": BinaryAccuracy()}, prefix="train/")
            eval_metrics = MetricCollection({"acc": BinaryAccuracy(), "f1": BinaryF1Score(), "auroc": BinaryAUROC()})
        else:
            accuracy = MulticlassAccuracy(num_classes, average="micro")
            self.train_metrics = MetricCollection({"acc": accuracy.clone()}, prefix="train/")
            eval_metrics = MetricCollection({"acc": accuracy, "macro_f1": MulticlassF1Score(num_classes, average="macro")})
            per_class = MetricCollection({
                "precision": MulticlassPrecision(num_classes, average=None),
                "recall": MulticlassRecall(num_classes, average=None),
                "f1": MulticlassF1Score(num_classes, average=None),
            })
            self.per_class = nn.ModuleDict({stage: per_class.clone(prefix=f"{stage}/") for stage in ("val", "test")})
        self.val_metrics = eval_metrics.clone(prefix="val/")
        self.test_metrics = eval_metrics.clone(prefix="test/")
        # Weighted means that sync their sums. Lightning's own `sync_dist` mean divides the summed batch
        # sizes (an integer) by the world size, rounding down: wrong when the shards' sizes differ.
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self._test_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def set_preprocessing(self, preprocessing: Preprocessing) -> None:
        super().set_preprocessing(preprocessing)
        self.example_input_array = torch.zeros(1, preprocessing.layout.max_len, dtype=torch.long)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(tokens, lengths)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(batch,) the second class's probability for two classes; (batch, classes) for more."""
        logits = logits.float()
        return torch.sigmoid(logits) if self.binary else torch.softmax(logits, dim=-1)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return binary_cross_entropy(logits, labels, self.hparams.loss)
        return categorical_cross_entropy(logits, labels.long(), self.hparams.loss)

    def _step(self, batch: dict, stage: str, metrics: MetricCollection, mean_loss: MeanMetric | None = None):
        perturbed = stage == "train" and (self.hparams.adversarial or self.hparams.virtual_adversarial)
        if perturbed:
            embedded = self.net.embed(batch["tokens"])
            logits = self.net.from_embeddings(embedded, batch.get("lengths"))
        else:
            logits = self(batch["tokens"], batch.get("lengths"))
        # probabilities, not logits: torchmetrics applies a sigmoid only to a batch holding a value outside [0, 1]
        probabilities = self.probabilities(logits.detach())
        if stage == "test":
            self._test_outputs.append((probabilities, batch["labels"]))
        loss = self._loss(logits, batch["labels"])
        size = len(logits)
        if mean_loss is None:  # training: this rank's running mean
            self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=size)
            self.log("train/loss_step", loss, on_step=True, prog_bar=True)
        else:
            mean_loss.update(loss.detach(), weight=size)
            self.log(f"{stage}/loss", mean_loss, on_step=False, on_epoch=True, prog_bar=True)
        metrics.update(probabilities, batch["labels"].long())
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage != "train", batch_size=size)
        if not self.binary and stage != "train":
            self.per_class[stage].update(probabilities, batch["labels"].long())
        return loss + self._perturbation_losses(batch, embedded, logits, loss) if perturbed else loss

    def _perturbation_losses(self, batch: dict, embedded: torch.Tensor, logits: torch.Tensor,
                             loss: torch.Tensor) -> torch.Tensor:
        """The adversarial and virtual adversarial losses of a training batch, each logged."""
        hp, lengths = self.hparams, batch.get("lengths")
        real = batch["tokens"].ne(0).unsqueeze(-1)  # padding stays as it is
        extra = torch.zeros((), device=loss.device)
        if hp.adversarial:
            adversarial = adversarial_loss(self.net, embedded, real, lengths, loss,
                                           lambda z: self._loss(z, batch["labels"]), hp.adversarial)
            self.log("train/adversarial_loss", adversarial, on_step=False, on_epoch=True, batch_size=len(logits))
            extra = extra + adversarial
        if hp.virtual_adversarial:
            datamodule = self._trainer and self.trainer.datamodule
            draw = getattr(datamodule, "unlabelled_batch", None)
            unlabelled = draw and draw(self.global_step, self.global_rank)
            if unlabelled is not None:  # the virtual loss needs no label: it reads the unlabelled texts
                lengths = unlabelled.get("lengths")
                lengths = lengths if lengths is None else lengths.to(self.device)
                tokens = unlabelled["tokens"].to(self.device)
                embedded, real = self.net.embed(tokens), tokens.ne(0).unsqueeze(-1)
                with torch.no_grad():
                    logits = self.net.from_embeddings(embedded, lengths)
            virtual = virtual_adversarial_loss(self.net, embedded, real, lengths, logits, hp.virtual_adversarial)
            self.log("train/virtual_adversarial_loss", virtual, on_step=False, on_epoch=True, batch_size=len(logits))
            extra = extra + virtual
        return extra

    def _log_per_class(self, stage: str) -> None:
        """`<stage>/precision|recall|f1/<class name>` of the epoch (more than two classes only)."""
        if self.binary:
            return
        names = [metric_key(name) for name in self.preprocessing.label_names]
        values = self.per_class[stage].compute()  # synced over DDP ranks
        self.per_class[stage].reset()
        for key, per_class in values.items():
            self.log_dict({f"{key}/{name}": value for name, value in zip(names, per_class)}, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._log_per_class("val")

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train", self.train_metrics)

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val", self.val_metrics, self.val_loss)

    def test_step(self, batch, batch_idx):
        self._step(batch, "test", self.test_metrics, self.test_loss)

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def on_test_epoch_end(self) -> None:
        self._log_per_class("test")
        width = () if self.binary else (self.hparams.num_classes,)
        # a rank without test batches still joins the gathers
        nothing = (torch.zeros(0, *width, device=self.device), torch.zeros(0, device=self.device))
        outputs = zip(*(self._test_outputs or [nothing]))
        probabilities, labels = (gather_uneven(self, torch.cat(parts)) for parts in outputs)
        if len(labels) == 0:
            return
        writer = writer_of(self)
        if writer is not None:
            log_classification_figures(writer, probabilities.cpu(), labels.cpu(), self.preprocessing.label_names,
                                       self.global_step)
        self._test_outputs = []

    def on_fit_start(self) -> None:
        super().on_fit_start()
        datamodule = self.trainer.datamodule
        if self.net.normalize_embeddings and datamodule is not None:
            self.net.word_counts.copy_(datamodule.word_counts())
            if self._encoder_reads_raw_embeddings:
                read_standardized_embeddings(self.net)
                self._encoder_reads_raw_embeddings = False
        if getattr(datamodule, "unlabelled", None) is not None and not self.hparams.virtual_adversarial:
            rank_zero_warn("data.unlabelled_path is read only by virtual adversarial training (model.virtual_adversarial "
                           "> 0, with model.net.normalize_embeddings=true); this run does not use it")

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
        testing or prediction restores no optimizer and is not checked. With `normalize_embeddings`, the
        checkpoint's weights read standardized embeddings already: `on_fit_start` leaves them as they are."""
        super().on_load_checkpoint(checkpoint)
        self._encoder_reads_raw_embeddings = False
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
        """Float32 probabilities of a batch laid out as in training (`tokens` (B, T), `lengths` (B,) with
        bucket batching): the second class's (B,) for two classes, every class's (B, C) for more."""
        return self.probabilities(self(batch["tokens"], batch.get("lengths")))

    @torch.no_grad()
    def predict_proba(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """`predict_step`'s probabilities of each raw text, from the checkpoint's own preprocessing."""
        layout = self.preprocessing.layout
        matrix, kept = layout.matrix(*self.tokenizer.encode_ragged(texts))
        self.eval()
        probabilities = []
        for index in torch.arange(len(texts)).split(batch_size):
            batch = {k: v.to(self.device) for k, v in layout.batch(matrix, kept, index).items()}
            probabilities.append(self.predict_step(batch, 0).cpu())
        return torch.cat(probabilities) if probabilities else torch.zeros(0, *([] if self.binary else [self.hparams.num_classes]))
