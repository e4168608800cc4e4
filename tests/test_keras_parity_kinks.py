"""benchmarks/keras_parity.py's kink detector, which runs without Keras: the package's ReLU map as one
(batch, channels, steps) array also when fast padding splits the convolution, and the count of
non-smooth choices two sides decided differently."""

import importlib.util
import sys

import numpy as np
import torch

from conftest import ROOT
from rnn_sentiment.network import RecurrentClassifier

spec = importlib.util.spec_from_file_location("keras_parity", ROOT / "benchmarks" / "keras_parity.py")
keras_parity = sys.modules["keras_parity"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(keras_parity)


def conv_lstm(fast_padding: bool) -> RecurrentClassifier:
    torch.manual_seed(0)
    return RecurrentClassifier(50, embed_dim=8, hidden_size=6, conv_channels=5, keras_padding_embedding=True,
                               fast_padding=fast_padding, init="keras_exact")


def test_the_relu_map_of_the_fast_path_is_the_plain_one():
    tokens = torch.zeros(4, 30, dtype=torch.long)
    for row, length in enumerate([0, 3, 11, 7]):  # 19 columns of padding every row shares
        tokens[row, 30 - length:] = torch.randint(1, 50, (length,))
    maps = []
    for fast in (True, False):
        net = conv_lstm(fast)
        recorder = keras_parity.ReluRecorder(net)
        net(tokens)
        assert len(recorder.calls) == (2 if fast else 1)  # fast: the shared padding, then the rest
        maps.append(recorder.take(30))
        assert len(recorder.calls) == 0
    fast, plain = maps
    assert fast.shape == plain.shape == (4, 5, 30)
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-6)
    as_keras = plain.permute(0, 2, 1).numpy()  # Keras' layout: (batch, steps, channels)
    assert keras_parity.kinks(as_keras, fast, pool=2) == (0, 0)


def test_kinks_count_relu_sign_flips_and_pooling_choices():
    ours = np.array([[[0.5, 0.2, 0.0, 0.0, 0.3, 0.3]]])  # (batch 1, channel 1, steps 6)
    theirs = ours.copy()
    assert keras_parity.kinks(theirs.transpose(0, 2, 1), torch.from_numpy(ours), pool=2) == (0, 0)
    theirs[0, 0, 2] = 1e-8  # zero on our side only
    theirs[0, 0, 1] = 0.6  # the first window's largest element moves
    theirs[0, 0, 5] = 0.31  # the last window is tied on our side: no choice of ours to differ from
    assert keras_parity.kinks(theirs.transpose(0, 2, 1), torch.from_numpy(ours), pool=2) == (1, 1)
    assert keras_parity.kinks(theirs.transpose(0, 2, 1), None, pool=2) == (0, 0)  # no convolution
