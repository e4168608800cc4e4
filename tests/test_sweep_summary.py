"""The sweep summary's table of repeats: the mean ± sd of each setting over its seeds and folds."""

import json
import statistics

from omegaconf import OmegaConf

from rnn_sentiment.core.sweep import repeats_table, write_summary


def finished(overrides: str, **metrics) -> dict:
    return {"status": "finished", "overrides": overrides, **metrics}


def test_runs_are_grouped_by_their_setting_without_seed_and_fold():
    rows = [finished("model=lstm data.fold=0 seed=1", **{"test/acc": 0.70, "best/val/acc": 0.8, "test/f1/neg": 0.1}),
            finished("model=lstm data.fold=1 seed=1", **{"test/acc": 0.76, "best/val/acc": 0.9}),
            finished("model=elman data.fold=0 seed=1", **{"test/acc": 0.60, "best/val/acc": 0.7}),
            {"status": "failed", "overrides": "model=elman data.fold=1 seed=1", "error": "boom"}]
    lines = repeats_table(rows)
    assert lines[3] == "| setting | runs | test/acc | best/val/acc |"
    sd = statistics.stdev([0.70, 0.76])
    assert lines[5] == f"| model=lstm | 2 | 0.7300 ± {sd:.4f} | 0.8500 ± {statistics.stdev([0.8, 0.9]):.4f} |"
    assert lines[6] == "| model=elman | 1 | 0.6000 | 0.7000 |"
    assert repeats_table(rows[2:]) == []  # nothing ran twice


def test_the_summary_file_ends_with_the_repeats(tmp_path):
    for number, (overrides, accuracy) in enumerate([(["seed=1"], 0.5), (["seed=2"], 0.7)]):
        job = tmp_path / str(number)
        (job / ".hydra").mkdir(parents=True)
        OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
        (job / "metrics.json").write_text(json.dumps({"test/acc": accuracy, "overrides": overrides}))
    text = write_summary(tmp_path).read_text()
    assert text.endswith(f"| (defaults) | 2 | 0.6000 ± {statistics.stdev([0.5, 0.7]):.4f} |\n")
