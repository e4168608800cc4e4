"""rnn_sentiment.core.plots: learning curves placed at their fraction of an epoch."""

import pytest
from torch.utils.tensorboard import SummaryWriter

from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.plots import logged_scalars, plot_run, steps_per_epoch


def write_scalars(run_dir, points):
    """TensorBoard events under run_dir/tensorboard: `points` as (tag, step, value)."""
    writer = SummaryWriter(str(run_dir / "tensorboard"))
    for tag, step, value in points:
        writer.add_scalar(tag, value, step)
    writer.close()


def test_steps_per_epoch_comes_from_the_last_step_logged_in_epoch_0(tmp_path):
    # 200 steps an epoch, a language model validated twice an epoch (steps 99 and 199)
    write_scalars(tmp_path, [("epoch", 49, 0), ("epoch", 99, 0), ("epoch", 199, 0), ("val/ppl", 99, 300.0),
                             ("val/ppl", 199, 250.0), ("epoch", 249, 1), ("epoch", 399, 1), ("val/ppl", 299, 220.0)])
    scalars = logged_scalars(tmp_path)
    assert scalars["val/ppl"] == {99: 300.0, 199: 250.0, 299: 220.0}
    assert steps_per_epoch(scalars) == 200
    assert plot_run(tmp_path).stat().st_size > 0


def test_a_run_still_in_its_first_epoch_is_plotted_against_steps(tmp_path):
    write_scalars(tmp_path, [("epoch", 49, 0), ("epoch", 99, 0), ("val/ppl", 99, 300.0)])
    assert steps_per_epoch(logged_scalars(tmp_path)) is None
    assert plot_run(tmp_path).exists()


def test_a_run_without_scalars_is_a_one_line_error(tmp_path):
    with pytest.raises(UserInputError, match=r"no TensorBoard scalars found"):
        plot_run(tmp_path)


def test_a_run_resumed_into_a_new_directory_without_epoch_0_still_finds_its_epochs(tmp_path):
    # 200 steps an epoch; this directory's logs start in epoch 2
    write_scalars(tmp_path, [("epoch", 449, 2), ("epoch", 599, 2), ("val/ppl", 599, 200.0), ("epoch", 649, 3)])
    assert steps_per_epoch(logged_scalars(tmp_path)) == 200
