"""rnn_sentiment.core.plots: learning curves placed at their fraction of an epoch."""

import json

import pytest
from torch.utils.tensorboard import SummaryWriter

from rnn_sentiment.core import plots
from rnn_sentiment.core.errors import UserInputError
from rnn_sentiment.core.plots import logged_scalars, plot_run, plot_sweep, steps_per_epoch


@pytest.fixture
def drawn(monkeypatch) -> list[dict]:
    """What each saved figure shows: per panel title, each line's label → (x, y), and each bar
    chart's bars as label → widths; the PNG is still written."""
    figures = []
    save = plots.save_png

    def recording(figure, path):
        panels = {}
        for axis in figure.axes:
            lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axis.lines}
            bars = {container.get_label(): [bar.get_width() for bar in container] for container in axis.containers}
            panels[axis.get_title()] = {"lines": lines, "bars": bars, "xlabel": axis.get_xlabel(),
                                        "yticks": [t.get_text() for t in axis.get_yticklabels()]}
        figures.append(panels)
        return save(figure, path)

    monkeypatch.setattr(plots, "save_png", recording)
    return figures


def write_scalars(run_dir, points):
    """TensorBoard events under run_dir/tensorboard: `points` as (tag, step, value)."""
    writer = SummaryWriter(str(run_dir / "tensorboard"))
    for tag, step, value in points:
        writer.add_scalar(tag, value, step)
    writer.close()


def test_steps_per_epoch_comes_from_the_last_step_logged_in_epoch_0(tmp_path, drawn):
    # 200 steps an epoch, a language model validated twice an epoch (steps 99 and 199)
    write_scalars(tmp_path, [("epoch", 49, 0), ("epoch", 99, 0), ("epoch", 199, 0), ("val/ppl", 99, 300.0),
                             ("val/ppl", 199, 250.0), ("epoch", 249, 1), ("epoch", 399, 1), ("val/ppl", 299, 220.0)])
    scalars = logged_scalars(tmp_path)
    assert scalars["val/ppl"] == {99: 300.0, 199: 250.0, 299: 220.0}
    assert steps_per_epoch(scalars) == 200
    assert plot_run(tmp_path).read_bytes().startswith(b"\x89PNG")
    (figure,) = drawn
    assert list(figure) == ["perplexity"] and figure["perplexity"]["xlabel"] == "epoch"
    # validations at the middle and the end of epoch 0, then the middle of epoch 1
    assert figure["perplexity"]["lines"] == {"validation": ([0.5, 1.0, 1.5], [300.0, 250.0, 220.0])}


def test_train_and_validation_curves_share_a_panel(tmp_path, drawn):
    # 10 steps an epoch; train/acc logged per step and per epoch (Lightning's `_epoch` name)
    write_scalars(tmp_path, [("epoch", 9, 0), ("epoch", 19, 1), ("train/loss", 9, 0.7), ("train/loss", 19, 0.5),
                             ("val/loss", 9, 0.6), ("val/loss", 19, 0.55), ("train/acc_epoch", 9, 0.6),
                             ("train/acc_epoch", 19, 0.8), ("val/acc", 9, 0.65), ("val/acc", 19, 0.7)])
    plot_run(tmp_path)
    (figure,) = drawn
    assert list(figure) == ["loss", "accuracy"]
    lines = figure["loss"]["lines"]  # TensorBoard stores float32
    assert lines == {"train": ([1.0, 2.0], pytest.approx([0.7, 0.5])),
                     "validation": ([1.0, 2.0], pytest.approx([0.6, 0.55]))}
    assert figure["accuracy"]["lines"]["train"] == ([1.0, 2.0], pytest.approx([0.6, 0.8]))


def test_a_sweep_chart_shows_each_runs_metrics_labelled_by_what_differs(tmp_path, drawn):
    runs = []
    for name, lr, best, test in (("0", "0.001", 0.8, 0.78), ("1", "0.01", 0.85, 0.83)):
        run = tmp_path / name
        run.mkdir()
        metrics = {"best/val/acc": best, "test/acc": test, "overrides": ["model=lstm", f"model.lr={lr}"]}
        (run / "metrics.json").write_text(json.dumps(metrics))
        runs.append(run)
    plot_sweep(tmp_path, runs)
    (figure,) = drawn
    (chart,) = figure.values()
    assert chart["bars"] == {"best/val/acc": [0.8, 0.85], "test/acc": [0.78, 0.83]}
    assert chart["yticks"] == ["0 lr=0.001", "1 lr=0.01"]


def test_a_run_still_in_its_first_epoch_is_plotted_against_steps(tmp_path, drawn):
    write_scalars(tmp_path, [("epoch", 49, 0), ("epoch", 99, 0), ("val/ppl", 99, 300.0)])
    assert steps_per_epoch(logged_scalars(tmp_path)) is None
    assert plot_run(tmp_path).exists()
    (figure,) = drawn
    assert figure["perplexity"]["xlabel"] == "step"
    assert figure["perplexity"]["lines"] == {"validation": ([99], [300.0])}


def test_a_run_without_scalars_is_a_one_line_error(tmp_path):
    with pytest.raises(UserInputError, match=r"no TensorBoard scalars found"):
        plot_run(tmp_path)


def test_a_run_resumed_into_a_new_directory_without_epoch_0_still_finds_its_epochs(tmp_path):
    # 200 steps an epoch; this directory's logs start in epoch 2
    write_scalars(tmp_path, [("epoch", 449, 2), ("epoch", 599, 2), ("val/ppl", 599, 200.0), ("epoch", 649, 3)])
    assert steps_per_epoch(logged_scalars(tmp_path)) == 200
