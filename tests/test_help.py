"""`--help` of every entry point lists only the config groups and presets that entry point takes, and
a preset's name says which entry point takes it (`lm_…` the language model's)."""

import pytest
from hydra import compose, initialize_config_dir

from conftest import ROOT, run_here

ENTRY_POINTS = {"rnn_sentiment.train": "train", "lm.train": "lm", "rnn_sentiment.predict": "predict",
                "lm.generate": "generate", "rnn_sentiment.baselines": "baselines", "rnn_sentiment.plot": "plot",
                "rnn_sentiment.export": "export"}


def shown_groups(module: str) -> dict[str, list[str]]:
    """The `group: option, …` lines of `module --help`, as options by group."""
    shown = run_here(module, "--help")
    assert shown.returncode == 0, shown.stderr
    section = shown.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    assert shown.stdout.startswith(f"python -m {module} [group=option ...]")
    return {group: options.split(", ") for group, options in
            (line.split(": ", 1) for line in section.strip().splitlines()[1:] if ": " in line and line[0] != "(")}


def model_target(config: str, overrides: list[str]) -> str:
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose(config, overrides=overrides).model._target_


def test_each_training_entry_point_lists_its_own_presets_and_every_preset_is_listed_once():
    classifier, language_model = shown_groups("rnn_sentiment.train"), shown_groups("lm.train")
    assert classifier["model"] == ["bilstm", "conv_lstm", "elman", "lstm"] and language_model["model"] == ["word_lstm"]
    assert classifier["data"] == ["imdb"] and language_model["data"] == ["moby_dick"]
    assert "+ablation" in classifier and "+ablation" not in language_model
    for group in ("experiment", "hparams_search"):
        every = sorted(path.stem for path in (ROOT / "conf" / group).glob("*.yaml"))
        assert sorted(classifier[group] + language_model[group]) == every  # each preset in one list
    # a listed experiment composes its entry point's own network: the names do not lie
    for config, shown in (("train", classifier), ("lm", language_model)):
        own = model_target(config, [])
        assert {model_target(config, [f"experiment={name}"]) for name in shown["experiment"]} == {own}


@pytest.mark.parametrize("module, groups", [("rnn_sentiment.predict", ["trainer"]), ("lm.generate", []),
                                            ("rnn_sentiment.plot", []), ("rnn_sentiment.export", []),
                                            ("rnn_sentiment.baselines", ["data", "paths"])])
def test_the_other_entry_points_list_only_the_groups_of_their_defaults(module, groups):
    assert sorted(shown_groups(module)) == groups
