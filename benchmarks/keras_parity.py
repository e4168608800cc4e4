"""The tutorial's networks in Keras and in this package, compared step by step.

pip install -e ".[keras]"
python benchmarks/keras_parity.py --model {elman,lstm,conv_lstm} --steps N [--batch-size 64] [--seed 0]
                                  [hydra overrides of the package's side, e.g. model.net.single_bias=false]

Builds the network in Keras (its own initializers and `Adam`, `binary_crossentropy`, as the
tutorial compiles it) and in the package as `experiment=tutorial model=<name>` composes it, then:

1. initialisation: each fresh PyTorch weight against Keras' fresh one (spread; constants exactly);
2. the loss of saturated outputs (|logit| up to 30) and its gradient, through Keras' sigmoid;
3. Keras' initial weights copied into the PyTorch network, both fed the same N batches of random
   token ids, pre-padded to max_len with varied lengths (some batches shorter than max_len, an
   empty review, a full one), random labels; per step: outputs, loss, every gradient, and every
   weight after the Adam step (`Model.train_step`'s arithmetic on the Keras side; the
   LightningModule's `training_step` and `configure_optimizers` on the PyTorch side), beside both
   sides' float32 noise, measured by a float64 twin of each.

Prints the largest difference of each step, then for each quantity its difference at the step
where it came closest to its tolerance (stated beside it; the model is described at TOLERANCE),
and exits 1 when one exceeds it.

python benchmarks/keras_parity.py --train --model {elman,lstm,conv_lstm} --seed S --data DIR
                                  [--results keras_tutorial.jsonl] [--epochs 3] [--limit N]

trains the tutorial's Keras network as the course does (`fit`: Adam 1e-3, batch 64, 3 epochs,
shuffled, validated on the test split) on the package's own ids of the same reviews
(`experiment=tutorial`: 5,000 words, pre-padded / pre-truncated to 500), and appends one JSON line
(framework, model, seed, batching, test_acc, seconds, …) to `--results`;
`benchmarks/tutorial_seeds.py` tabulates those lines beside the package's sweeps.
"""

from __future__ import annotations  # the Keras type hints must not need Keras installed

import argparse
import copy
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, whatever is installed
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402

from rnn_sentiment.keras_compat import binary_cross_entropy  # noqa: E402

try:  # the optional extra: without it --help still works and a run says what to install
    import keras
    import tensorflow as tf
except ModuleNotFoundError:
    keras = tf = None

MODELS = ("elman", "lstm", "conv_lstm")

# The tolerance model. TensorFlow and PyTorch round differently (oneDNN, Eigen, MKL), so they agree
# to float32 noise, and a perturbation of float32 size grows from step to step. That noise is
# measured on the same steps: each side also runs in float64 from the same weights (Keras as a
# float64 twin, the package as `.double()`), and |P − K| ≤ |P − P64| + |K − K64| + |P64 − K64|:
# the float32 runs may differ by both sides' float32 error, plus what the float64 runs disagree on
# (the real difference; its value is printed beside). Each difference may be its floor × the steps
# since the last synchronisation, plus NOISE_FACTOR × the largest such noise of the same quantity
# since then (Adam divides by √v, so it can amplify a gradient's noise). Two events end what
# rounding can explain on a shared trajectory; the package's two runs and Keras' float64 twin then
# restart from Keras' weights and Adam moments after the step (Keras runs on undisturbed), and the
# step table notes it:
# - chaos: either side's float32 outputs differ from its float64 ones by more than RESYNC_NOISE;
#   the Elman RNN's 500 tanh steps amplify rounding until any two float32 runs part;
# - a kink: a ReLU output of the convolution is zero on one side only, or a pooling window's
#   largest element differs: rounding decided a non-smooth choice, and the gradient of what lies
#   before it (BEFORE_RELU) changes by a whole position's share; it is not judged at that step.
#   Kinks are rare events (about one step in 20 for the Conv-LSTM), so more than MAX_KINK_SHARE of
#   the steps with one means the forward passes differ by more than noise, and fails.
NOISE_FACTOR = 30
RESYNC_NOISE = 1e-5
MAX_KINK_SHARE = 0.25
BEFORE_RELU = ("embedding", "conv kernel", "conv bias")
TOLERANCE = {
    "init spread": 0.1,  # |std ratio - 1| per weight, plus 5 standard errors of a sample std
    "saturated loss": 1e-5,
    "output": 1e-6,  # |Δ probability|
    "loss": 1e-6,
    "gradient": 1e-5,  # max |Δ| / max |Keras gradient| per weight
    "weight": 1e-6,  # max |Δ| per weight after a step
}


def keras_network(name: str, cfg, vocab: int, max_len: int, seed: int, sparse_gradients: bool = True,
                  metrics: tuple[str, ...] = (), dtype: str = "float32") -> keras.Model:
    """The tutorial's Sequential model, compiled as the tutorial compiles it (in `dtype`). Without
    `sparse_gradients`, `fit` hands Adam the embedding's gradient summed to a dense tensor
    (see `keras_train_step`)."""
    keras.utils.set_random_seed(seed)
    m = cfg.model.net
    layers = [keras.Input((max_len,), dtype="int32"), keras.layers.Embedding(vocab, m.embed_dim, dtype=dtype)]
    if name == "elman":
        layers.append(keras.layers.SimpleRNN(m.hidden_size, dtype=dtype))
    else:
        if name == "conv_lstm":
            layers += [keras.layers.Conv1D(m.conv_channels, m.conv_kernel, padding="same", activation="relu",
                                           dtype=dtype),
                       keras.layers.MaxPooling1D(m.pool_size, dtype=dtype)]
        layers.append(keras.layers.LSTM(m.hidden_size, dtype=dtype))
    layers.append(keras.layers.Dense(1, activation="sigmoid", dtype=dtype))
    model = keras.Sequential(layers)
    adam = keras.optimizers.Adam if sparse_gradients else dense_gradient_adam()
    loss = "binary_crossentropy" if dtype == "float32" else keras.losses.BinaryCrossentropy(dtype=dtype)
    model.compile(optimizer=adam(learning_rate=cfg.model.lr), loss=loss, metrics=list(metrics))
    model.optimizer.build(model.trainable_variables)
    return model


def dense_gradient_adam() -> type:
    """Keras' Adam, given every gradient as a dense tensor (Keras 2's and PyTorch's arithmetic)."""

    class DenseGradientAdam(keras.optimizers.Adam):
        def apply(self, grads, trainable_variables=None):
            return super().apply([tf.convert_to_tensor(g) for g in grads], trainable_variables)

    return DenseGradientAdam


def tutorial_config(name: str, overrides: list[str]):
    """The composed `experiment=tutorial model=<name>` config."""
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=[f"model={name}", "experiment=tutorial", *overrides])


def package_module(name: str, overrides: list[str], seed: int):
    """The composed `experiment=tutorial model=<name>` config and its LightningModule."""
    cfg = tutorial_config(name, overrides)
    torch.manual_seed(seed)
    return cfg, instantiate(cfg.model, vocab_size=cfg.data.num_words)


@dataclass
class Pair:
    """One Keras weight and the PyTorch parameter holding it (in PyTorch's layout), plus, for a
    recurrent bias, PyTorch's second bias vector: the gate sees their sum."""

    label: str
    variable: object
    param: torch.nn.Parameter
    layout: str = "same"  # same | transposed | conv (Keras (k, in, out) → PyTorch (out, in, k))
    second_bias: torch.nn.Parameter | None = None

    def keras_value(self, array=None) -> np.ndarray:
        array = np.asarray(self.variable.numpy() if array is None else array)
        if self.layout == "transposed":
            return array.T
        return array.transpose(2, 1, 0) if self.layout == "conv" else array

    def torch_value(self) -> np.ndarray:
        value = self.param if self.second_bias is None else self.param + self.second_bias
        return value.detach().numpy()

    @torch.no_grad()
    def copy_keras_weight(self) -> None:
        self.param.copy_(torch.from_numpy(self.keras_value().copy()))
        if self.second_bias is not None:
            self.second_bias.zero_()


def pairs(model: keras.Model, net) -> list[Pair]:
    """Every Keras weight with its PyTorch parameter. Keras' LSTM gates are ordered i, f, c, o as
    PyTorch's i, f, g, o, so a transpose maps the kernels."""
    embedding, *middle, rnn, dense = model.layers
    found = [Pair("embedding", embedding.embeddings, net.embedding.weight)]
    if middle:
        conv = middle[0]
        found += [Pair("conv kernel", conv.kernel, net.conv[0].weight, "conv"),
                  Pair("conv bias", conv.bias, net.conv[0].bias)]
    cell = rnn.cell
    found += [Pair("rnn kernel", cell.kernel, net.rnn.weight_ih_l0, "transposed"),
              Pair("rnn recurrent kernel", cell.recurrent_kernel, net.rnn.weight_hh_l0, "transposed"),
              Pair("rnn bias", cell.bias, net.rnn.bias_ih_l0, second_bias=net.rnn.bias_hh_l0),
              Pair("dense kernel", dense.kernel, net.head.weight, "transposed"),
              Pair("dense bias", dense.bias, net.head.bias)]
    assert len(found) == len(model.trainable_variables)
    return found


def check_init(found: list[Pair]) -> list[tuple[str, float, float]]:
    """Fresh weights of both sides: random ones by spread, constant ones (biases) exactly."""
    rows = []
    for pair in found:
        ours, theirs = pair.torch_value(), pair.keras_value()
        if theirs.std() == 0 or pair.second_bias is not None:
            rows.append((f"init {pair.label} (exact)", float(np.abs(ours - theirs).max()), 0.0))
        else:
            spread = abs(ours.std() / theirs.std() - 1)
            rows.append((f"init {pair.label} (std ratio - 1)", spread,
                         TOLERANCE["init spread"] + 5 / np.sqrt(2 * theirs.size)))
    return rows


def check_saturated_loss(module) -> list[tuple[str, float, float]]:
    """Keras' loss and its gradient on outputs far in the sigmoid's tails, against the module's."""
    logits = np.array([-30, -17, -5, 0, 5, 17, 30] * 2, dtype="float32")[:, None]
    labels = np.repeat([0.0, 1.0], 7).astype("float32")[:, None]
    probe = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, activation="sigmoid")])
    probe.compile(loss="binary_crossentropy")
    probe.set_weights([np.ones((1, 1), "float32"), np.zeros(1, "float32")])
    x = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(x)
        keras_loss = probe.compute_loss(x=x, y=labels, y_pred=probe(x))
    keras_grad = tape.gradient(keras_loss, x).numpy().ravel()
    ours = torch.tensor(logits.ravel(), requires_grad=True)
    loss = binary_cross_entropy(ours, torch.from_numpy(labels.ravel()), module.hparams.loss)
    loss.backward()
    loss = loss.detach()
    return [("saturated outputs: loss", abs(float(loss) - float(keras_loss)), TOLERANCE["saturated loss"]),
            ("saturated outputs: gradient", float(np.abs(ours.grad.numpy() - keras_grad).max()),
             TOLERANCE["saturated loss"])]


def batches(steps: int, batch_size: int, vocab: int, max_len: int, seed: int):
    """Pre-padded batches of random ids; odd steps are shorter than max_len overall."""
    rng = np.random.default_rng(seed)
    for step in range(steps):
        longest = max_len if step % 2 == 0 else int(rng.integers(1, max_len))
        lengths = rng.integers(0, longest + 1, batch_size)
        lengths[0], lengths[-1] = 0, longest
        tokens = np.zeros((batch_size, max_len), dtype="int32")
        for row, n in enumerate(lengths):
            tokens[row, max_len - n :] = rng.integers(1, vocab, n)
        yield tokens, rng.integers(0, 2, batch_size).astype("float32")


def keras_train_step(model: keras.Model, sparse_gradients: bool):
    """`Model.train_step` (TensorFlow backend) that also returns its outputs, loss, gradients and
    the convolution's ReLU outputs (batch, steps, channels; empty without a convolution).

    The layers are called one by one, as `Sequential.call` does, to see the convolution's output.
    The embedding's gradient is summed to a dense tensor before Adam, unless `sparse_gradients`:
    Keras 3's Adam squares a sparse gradient's slices one occurrence at a time (`ops.square` on
    `tf.IndexedSlices`), so a word used k times gets Σ gₖ² in its second moment, not (Σ gₖ)².
    Keras 2 (the tutorial's) and Keras 3 on JAX or PyTorch use the dense square, as PyTorch does.
    """

    @tf.function
    def step(tokens, labels):
        with tf.GradientTape() as tape:
            outputs, relu = tokens, tf.zeros((0,))
            for layer in model.layers:
                outputs = layer(outputs, training=True)
                if isinstance(layer, keras.layers.Conv1D):
                    relu = outputs
            loss = model.compute_loss(x=tokens, y=labels, y_pred=outputs)
        gradients = tape.gradient(loss, model.trainable_variables)
        dense = [tf.convert_to_tensor(g) for g in gradients]
        model.optimizer.apply(gradients if sparse_gradients else dense, model.trainable_variables)
        return outputs, loss, dense, relu

    return step


class ReluRecorder:
    """The package's convolution ReLU outputs of one forward pass, as one (batch, channels, steps) map.

    With `fast_padding` the network runs the convolution twice: over the padding columns all rows
    share (batch 1, `skip + right` columns, the last `right` only as the border) and over the rest,
    from `early` columns before it; the map puts the two back together.
    """

    def __init__(self, net):
        self.calls: list[torch.Tensor] = []
        self.kernel = net.conv[0].kernel_size[0] if net.conv is not None else 0
        self.handle = net.conv[1].register_forward_hook(self._record) if net.conv is not None else None

    def _record(self, layer, inputs, output) -> None:
        self.calls.append(output.detach())

    def take(self, steps: int) -> torch.Tensor | None:
        calls, self.calls = self.calls, []
        if not calls:
            return None
        if len(calls) == 1:
            return calls[0]
        prefix, rest = calls
        right = (self.kernel - 1) - (self.kernel - 1) // 2
        skip = prefix.shape[-1] - right
        early = rest.shape[-1] - (steps - skip)
        return torch.cat([prefix[..., :skip].expand(rest.shape[0], -1, -1), rest[..., early:]], dim=-1)


def kinks(keras_relu: np.ndarray, torch_relu: torch.Tensor | None, pool: int) -> tuple[int, int]:
    """Where the two sides' float32 noise decides a non-smooth choice differently: ReLU outputs zero
    on one side only, and pooling windows whose largest element differs (neither side tied).
    `keras_relu`: (batch, steps, channels); `torch_relu`: (batch, channels, steps)."""
    if torch_relu is None:
        return 0, 0
    theirs, ours = keras_relu.transpose(0, 2, 1), torch_relu.double().numpy()
    relu_flips = int(((theirs > 0) != (ours > 0)).sum())
    usable = theirs.shape[-1] // pool * pool
    theirs, ours = (x[..., :usable].reshape(*x.shape[:-1], -1, pool) for x in (theirs, ours))

    def decided(x):  # windows whose largest element is positive and unique
        top = np.sort(x, axis=-1)
        return (top[..., -1] > 0) & (top[..., -1] > top[..., -2])

    both = decided(theirs) & decided(ours)
    pool_flips = int((both & (theirs.argmax(-1) != ours.argmax(-1))).sum())
    return relu_flips, pool_flips


def torch_train_step(module, optimizer, found: list[Pair], tokens: np.ndarray, labels: np.ndarray) -> dict:
    """One `training_step` + Adam step of the LightningModule; its outputs, loss, gradients, weights."""
    dtype = next(module.parameters()).dtype
    logits = []
    hook = module.net.register_forward_hook(lambda net, inputs, output: logits.append(output.detach()))
    optimizer.zero_grad()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        loss = module.training_step({"tokens": torch.from_numpy(tokens).long(),
                                     "labels": torch.from_numpy(labels).to(dtype)}, 0)
    loss.backward()
    hook.remove()
    grads = {pair.label: pair.param.grad.double().numpy().copy() for pair in found}
    optimizer.step()
    return {"output (probability)": torch.sigmoid(logits[0]).double().numpy(), "loss": float(loss.detach()),
            "gradient": grads, "weight": {pair.label: pair.torch_value().astype("float64") for pair in found}}


@torch.no_grad()
def sync_from_keras(model: keras.Model, found: list[Pair], optimizer) -> None:
    """Keras' current weights and Adam moments into the package's network and optimizer (both
    have taken the same number of steps). A trained second bias restarts at zero with the
    moments of the bias it pairs with: it receives the same gradient."""
    adam = model.optimizer
    for pair in found:
        pair.copy_keras_weight()
        index = adam._get_variable_index(pair.variable)
        moments = [pair.keras_value(v.numpy()) for v in (adam._momentums[index], adam._velocities[index])]
        for param in (pair.param, pair.second_bias):
            state = optimizer.state.get(param) if param is not None else None
            if state:
                for key, value in zip(("exp_avg", "exp_avg_sq"), moments):
                    state[key].copy_(torch.from_numpy(np.ascontiguousarray(value)))


def sync_keras_twin(model: keras.Model, twin: keras.Model) -> None:
    """The float32 model's weights and Adam state (moments, step count) into its float64 twin."""
    twin.set_weights([w.astype("float64") for w in model.get_weights()])
    for source, target in zip(model.optimizer.variables, twin.optimizer.variables):
        target.assign(source.numpy().astype(target.dtype))


@dataclass
class Worst:
    """A quantity's difference at the step where it came closest to its tolerance."""

    value: float
    noise: float
    tolerance: float
    step: int
    float64: float  # the float64 twins' difference there


def compare_training(model, twin, module, found: list[Pair], args, vocab: int, max_len: int):
    """Per step and per weight, the largest difference between Keras and the package (float32),
    beside the float32 noise of both (each against its float64 twin, from the same weights) and the
    float64 twins' own difference. See TOLERANCE for the model and the two re-synchronisations."""
    keras_step, twin_step = keras_train_step(model, args.sparse_gradients), keras_train_step(twin, args.sparse_gradients)
    reference = copy.deepcopy(module).double()
    optimizers = module.configure_optimizers(), reference.configure_optimizers()
    module.train()
    reference.train()
    recorder = ReluRecorder(module.net)
    pool = module.net.pool_size if module.net.conv is not None else 1
    rows, per_step, envelope = {}, [], {}
    since_sync = kink_steps = 0

    def record(label: str, kind: str, step: int, ours, theirs, ours64, theirs64, scale=1.0, judged=True) -> None:
        """`ours`/`theirs`: the package's and Keras' value (float32 runs), `…64` their float64 twins'."""
        def gap(a, b) -> float:
            return float(np.abs(np.asarray(a) - np.asarray(b)).max()) / scale

        noise = gap(ours, ours64) + gap(theirs, theirs64)
        noise = envelope[label] = max(envelope.get(label, 0.0), noise)  # the largest since the last sync
        if not judged:
            return
        value, tolerance = gap(ours, theirs), TOLERANCE[kind] * since_sync + NOISE_FACTOR * noise
        worst = rows.get(label)
        if worst is None or value - tolerance > worst.value - worst.tolerance:
            rows[label] = Worst(value, noise, tolerance, step, gap(ours64, theirs64))
        return value

    for step, (tokens, labels) in enumerate(batches(args.steps, args.batch_size, vocab, max_len, args.seed), 1):
        since_sync += 1
        outputs, keras_loss, keras_grads, keras_relu = keras_step(tf.constant(tokens), tf.constant(labels[:, None]))
        outputs64, keras_loss64, keras_grads64, _ = twin_step(tf.constant(tokens),
                                                              tf.constant(labels[:, None].astype("float64")))
        ours = torch_train_step(module, optimizers[0], found, tokens, labels)
        exact = torch_train_step(reference, optimizers[1], pairs(model, reference.net), tokens, labels)
        relu_flips, pool_flips = kinks(keras_relu.numpy(), recorder.take(max_len), pool)
        kinked = relu_flips + pool_flips > 0
        kink_steps += kinked
        probability = "output (probability)"
        output_diff = record(probability, "output", step, ours[probability], outputs.numpy().ravel(),
                             exact[probability], outputs64.numpy().ravel())
        record("loss", "loss", step, ours["loss"], float(keras_loss), exact["loss"], float(keras_loss64))
        worst_grad = worst_weight = 0.0
        for pair, pair64, keras_grad, keras_grad64 in zip(found, pairs(twin, reference.net), keras_grads,
                                                          keras_grads64):
            # a kink changes the gradient of what lies before the ReLU at that step: not judged there
            judged = not (kinked and pair.label in BEFORE_RELU)
            theirs = pair.keras_value(keras_grad.numpy())
            grad_diff = record(f"gradient {pair.label} (relative)", "gradient", step, ours["gradient"][pair.label],
                               theirs, exact["gradient"][pair.label], pair.keras_value(keras_grad64.numpy()),
                               max(float(np.abs(theirs).max()), 1e-12), judged)
            weight_diff = record(f"weight {pair.label} after step", "weight", step, ours["weight"][pair.label],
                                 pair.keras_value(), exact["weight"][pair.label], pair64.keras_value(),
                                 judged=judged)
            if judged:
                worst_grad, worst_weight = max(worst_grad, grad_diff), max(worst_weight, weight_diff)
        notes = []
        if kinked:
            notes.append(f"kink ({relu_flips} ReLU, {pool_flips} pool): {', '.join(BEFORE_RELU)} not judged")
        chaos = max(float(np.abs(ours[probability] - exact[probability]).max()),
                    float(np.abs(outputs.numpy() - outputs64.numpy()).max()))
        if chaos > RESYNC_NOISE:
            notes.append(f"f32 vs f64 output {chaos:.1e} > {RESYNC_NOISE:.0e}")
        if notes:
            for net, optimizer in ((module, optimizers[0]), (reference, optimizers[1])):
                sync_from_keras(model, pairs(model, net.net), optimizer)
            sync_keras_twin(model, twin)
            envelope, since_sync = {}, 0
            notes[-1] += "; re-synced"
        per_step.append((step, int((tokens != 0).any(0).sum()), float(keras_loss), ours["loss"], output_diff,
                         worst_grad, worst_weight, "; ".join(notes)))
    return rows, per_step, kink_steps


def tutorial_arrays(cfg, limit: int | None, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The package's own ids of the train and test reviews ((n, max_len) int32, pre-padded as
    configured) and their 0/1 labels (n,) float32; with `limit`, a seeded random `limit` of each."""
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    arrays = {}
    for split in ("train", "test"):
        data = datamodule.datasets[split]
        tokens, labels = data.matrix.numpy().astype("int32"), data.labels.numpy().astype("float32")
        if limit:
            rows = np.random.default_rng(seed).permutation(len(labels))[:limit]
            tokens, labels = tokens[rows], labels[rows]
        arrays[split] = tokens, labels
    return arrays


def train_keras(args) -> dict:
    """Train the tutorial's Keras network as the course does (`fit`, shuffled batches, validated
    on test, final weights) on the package's ids of `--data`; returns the result line."""
    cfg = tutorial_config(args.model, [f"data.path={Path(args.data).resolve()}", f"seed={args.seed}",
                                       *args.overrides])
    arrays = tutorial_arrays(cfg, args.limit, args.seed)
    (x_train, y_train), (x_test, y_test) = arrays["train"], arrays["test"]
    model = keras_network(args.model, cfg, cfg.data.num_words, cfg.data.max_len, args.seed,
                          args.sparse_gradients, metrics=("accuracy",))
    epochs = args.epochs or cfg.trainer.max_epochs
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=cfg.data.batch_size, epochs=epochs,
                        validation_data=(x_test, y_test), verbose=2)
    seconds = time.perf_counter() - start
    return {"framework": "keras", "model": args.model, "seed": args.seed, "batching": "fixed",
            "test_acc": float(history.history["val_accuracy"][-1]), "seconds": round(seconds, 1),
            "epochs": epochs, "limit": args.limit, "train_reviews": len(y_train), "test_reviews": len(y_test),
            "gradients": "sparse" if args.sparse_gradients else "dense", "data": str(Path(args.data).resolve()),
            "keras": keras.__version__, "tensorflow": tf.__version__}


def append_result(path: Path, line: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as results:
        results.write(json.dumps(line) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS, required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sparse-gradients", action="store_true",
                        help="let Keras' Adam see the embedding's gradient as sparse slices (Keras 3 on TensorFlow)")
    parser.add_argument("--train", action="store_true",
                        help="train the tutorial's Keras network on --data instead, and append its result to --results")
    parser.add_argument("--data", help="--train: the IMDB reviews (a data.path of the package)")
    parser.add_argument("--results", type=Path, default=Path("keras_tutorial.jsonl"),
                        help="--train: the JSON-lines file the result is appended to (default: %(default)s)")
    parser.add_argument("--epochs", type=int, help="--train: epochs (default: the tutorial's 3)")
    parser.add_argument("--limit", type=int, help="--train: a seeded random LIMIT reviews of each split (a quick try)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the package's side")
    args = parser.parse_args(argv)
    if keras is None:
        sys.exit('error: keras_parity.py needs Keras and TensorFlow: pip install -e ".[keras]"')
    if args.train:
        if not args.data:
            sys.exit("error: --train needs --data, the reviews to train on (e.g. --data ../shared/data/imdb)")
        line = train_keras(args)
        append_result(args.results, line)
        print(f"{args.results}: {json.dumps(line)}")
        return 0

    cfg, module = package_module(args.model, args.overrides, args.seed)
    vocab, max_len = cfg.data.num_words, cfg.data.max_len
    model = keras_network(args.model, cfg, vocab, max_len, args.seed)
    found = pairs(model, module.net)
    checks = check_init(found) + check_saturated_loss(module)
    for pair in found:
        pair.copy_keras_weight()
    twin = keras_network(args.model, cfg, vocab, max_len, args.seed, args.sparse_gradients, dtype="float64")
    sync_keras_twin(model, twin)
    rows, per_step, kink_steps = compare_training(model, twin, module, found, args, vocab, max_len)
    print(f"keras {keras.__version__} (tensorflow {tf.__version__}) vs torch {torch.__version__}: "
          f"{args.model}, {args.steps} Adam steps of {args.batch_size} reviews, max_len {max_len}, "
          f"vocabulary {vocab}; package: experiment=tutorial {' '.join(args.overrides)}".rstrip())
    print(f"\n{'step':>4} {'columns':>7} {'keras loss':>11} {'torch loss':>11} {'max |Δ p|':>9} "
          f"{'max rel Δ grad':>14} {'max |Δ weight|':>14}  note")
    for step, columns, keras_loss, loss, output_diff, grad_diff, weight_diff, note in per_step:
        print(f"{step:>4} {columns:>7} {keras_loss:>11.6f} {loss:>11.6f} {output_diff:>9.2e} {grad_diff:>14.2e} "
              f"{weight_diff:>14.2e}  {note}".rstrip())
    table = [(label, value, None, tolerance, None, None) for label, value, tolerance in checks]
    table += [(label, w.value, w.noise, w.tolerance, w.step, w.float64) for label, w in rows.items()]
    width = max(len(label) for label, *_ in table)
    print(f"\n{'largest difference (Keras vs package)':<{width}} {'step':>4} {'float32':>9} {'f32 noise':>9} "
          f"{'tolerance':>9} {'float64':>9}")
    failed = []
    for label, value, noise, tolerance, step, float64 in table:
        bad = not value <= tolerance
        failed += [label] * bad
        shown = ("", "", "") if noise is None else (step, f"{noise:.2e}", f"{float64:.2e}")
        print(f"{label:<{width}} {shown[0]:>4} {value:>9.2e} {shown[1]:>9} {tolerance:>9.2e} {shown[2]:>9}"
              f"{'  FAIL' if bad else ''}")
    if kink_steps > MAX_KINK_SHARE * args.steps:
        failed.append(f"kinks at {kink_steps} of {args.steps} steps (float32 noise explains at most "
                      f"{MAX_KINK_SHARE:.0%})")
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'parity: every difference within its tolerance'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
