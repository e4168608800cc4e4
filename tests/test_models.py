import pytest
import torch

from rnn_sentiment.models import RecurrentClassifier

TUTORIAL = [  # cell, conv channels, Keras' count, PyTorch's extra bias per gate
    ("rnn", 0, 173_401, 100),
    ("lstm", 0, 213_301, 400),
    ("lstm", 32, 216_405, 400),
]


@pytest.mark.parametrize("cell, conv, keras_params, extra", TUTORIAL)
def test_parameter_counts_match_the_tutorial(cell, conv, keras_params, extra):
    net = RecurrentClassifier(5000, cell=cell, conv_channels=conv)
    total = sum(p.numel() for p in net.parameters())
    assert net.extra_bias_parameters() == extra
    assert total == keras_params + extra


@pytest.mark.parametrize("cell, conv", [("rnn", 0), ("lstm", 0), ("gru", 0), ("lstm", 32)])
def test_last_real_token_is_read_exactly_in_post_padded_batches(cell, conv):
    torch.manual_seed(0)
    net = RecurrentClassifier(50, cell=cell, conv_channels=conv).eval()
    lengths = torch.tensor([9, 4, 6])
    tokens = torch.zeros(3, 9, dtype=torch.long)
    for row, n in enumerate(lengths):
        tokens[row, :n] = torch.randint(2, 50, (int(n),))
    batched = net(tokens, lengths)
    alone = torch.stack([net(tokens[i : i + 1, : int(n)], None)[0] for i, n in enumerate(lengths)])
    torch.testing.assert_close(batched, alone)


def test_bidirectional_packs_so_padding_never_enters():
    torch.manual_seed(0)
    net = RecurrentClassifier(50, cell="lstm", bidirectional=True, num_layers=2).eval()
    tokens = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    batched = net(tokens, torch.tensor([4, 2]))
    alone = net(tokens[1:, :2], torch.tensor([2]))
    torch.testing.assert_close(batched[1:], alone)


def test_keras_initialization():
    net = RecurrentClassifier(100, cell="lstm", hidden_size=8)
    assert net.embedding.weight.abs().max() <= 0.05
    assert torch.all(net.rnn.bias_ih_l0[8:16] == 1) and torch.all(net.rnn.bias_hh_l0 == 0)
    gate = net.rnn.weight_hh_l0[:8]
    torch.testing.assert_close(gate @ gate.T, torch.eye(8), atol=1e-5, rtol=0)
