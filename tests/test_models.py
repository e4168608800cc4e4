import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.parameters import parameter_count, second_biases
from rnn_sentiment.fast_padding import reads_padding_once
from rnn_sentiment.network import RecurrentClassifier

TUTORIAL = [  # cell, conv channels, Keras' count, PyTorch's extra bias per gate
    ("rnn", 0, 173_401, 100),
    ("lstm", 0, 213_301, 400),
    ("lstm", 32, 216_405, 400),
]


@pytest.mark.parametrize("cell, conv, keras_params, extra", TUTORIAL)
def test_parameter_counts_match_the_tutorial(cell, conv, keras_params, extra):
    net = RecurrentClassifier(5000, cell=cell, conv_channels=conv)
    total = sum(p.numel() for p in net.parameters())
    assert sum(p.numel() for p in second_biases(net)) == extra
    assert total == keras_params + extra
    assert parameter_count(net).startswith(f"{total:,} parameters ({keras_params:,} as Keras counts them")


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


def post_padded(lengths: list[int], vocab: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for row, n in enumerate(lengths):
        tokens[row, :n] = torch.randint(2, vocab, (n,))
    return tokens, torch.tensor(lengths)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
def test_padding_never_reaches_the_result(pooling, bidirectional):
    torch.manual_seed(0)
    net = RecurrentClassifier(50, cell="lstm", num_layers=2, bidirectional=bidirectional, pooling=pooling).eval()
    tokens, lengths = post_padded([9, 4, 6])
    batched = net(tokens, lengths)
    alone = torch.stack([net(tokens[i : i + 1, :n], None)[0] for i, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(batched, alone)


def test_bidirectional_computes_what_a_packed_bidirectional_lstm_does():
    torch.manual_seed(0)
    net = RecurrentClassifier(50, cell="lstm", hidden_size=6, num_layers=2, bidirectional=True).eval()
    packed = torch.nn.LSTM(32, 6, num_layers=2, batch_first=True, bidirectional=True).eval()
    with torch.no_grad():
        for depth in range(2):
            for direction, layers in (("", net.rnn.forward_layers), ("_reverse", net.rnn.backward_layers)):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(packed, f"{name}_l{depth}{direction}").copy_(getattr(layers[depth], f"{name}_l0"))
    tokens, lengths = post_padded([7, 3, 5])
    x = net.embedding(tokens)
    sequences = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(packed(sequences)[0], batch_first=True)
    outputs = net.rnn(x, lengths)
    for row, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(outputs[row, :n], expected[row, :n])


def test_unknown_pooling_names_the_choices():
    with pytest.raises(UserInputError, match="model.net.pooling='attention'.*last, max, mean"):
        RecurrentClassifier(50, pooling="attention")


def test_keras_initialization():
    net = RecurrentClassifier(100, cell="lstm", hidden_size=8)
    assert net.embedding.weight.abs().max() <= 0.05
    assert torch.all(net.rnn.bias_ih_l0[8:16] == 1) and torch.all(net.rnn.bias_hh_l0 == 0)
    gate = net.rnn.weight_hh_l0[:8]
    torch.testing.assert_close(gate @ gate.T, torch.eye(8), atol=1e-5, rtol=0)


def test_keras_initialization_reaches_both_directions():
    net = RecurrentClassifier(100, cell="lstm", hidden_size=8, bidirectional=True)
    for layer in (net.rnn.forward_layers[0], net.rnn.backward_layers[0]):
        assert torch.all(layer.bias_ih_l0[8:16] == 1) and torch.all(layer.bias_hh_l0 == 0)
    assert sum(p.numel() for p in second_biases(net)) == 2 * 4 * 8


def test_input_dropout_acts_on_the_embedded_words_in_training_only():
    torch.manual_seed(0)
    tokens = torch.randint(0, 50, (4, 9))
    tokens[:, :3] = 0  # shared pre-padding, which fast padding would run once
    plain = RecurrentClassifier(50, cell="lstm", embed_dim=8, hidden_size=6)
    dropped = RecurrentClassifier(50, cell="lstm", embed_dim=8, hidden_size=6, input_dropout=0.5)
    dropped.load_state_dict(plain.state_dict())
    plain.eval(), dropped.eval()
    torch.testing.assert_close(dropped(tokens), plain(tokens))
    dropped.train()
    assert not reads_padding_once(dropped)
    torch.manual_seed(1)
    first = dropped(tokens)
    torch.manual_seed(1)
    embedded = torch.nn.functional.dropout(plain.embedding(tokens), 0.5, training=True)
    expected = plain.head(plain.pool(plain.rnn(embedded)[0], None)).squeeze(-1)
    torch.testing.assert_close(first, expected)
    assert not torch.allclose(first, dropped(tokens))  # a new mask each call
