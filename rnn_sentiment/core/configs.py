"""Where every entry point's `@hydra.main` finds its configs.

In a source checkout (an editable install, or `python -m` from the repository) that is the
checkout's own `conf/`, beside the code that runs, so a second checkout sharing one virtual
environment (`git worktree add`) runs with its own configs. An installed wheel carries `conf/` as
the package `rnn_lightning_conf`, which Hydra reads through its `pkg://` config source, so console
scripts and `python -m` work from any directory.
"""

import re
from importlib.resources import files
from pathlib import Path

from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from rnn_sentiment.core.errors import UserInputError

_CHECKOUT = Path(__file__).resolve().parents[2]
_IN_CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "conf" / "__init__.py").is_file()

CONFIG_PATH = str(_CHECKOUT / "conf") if _IN_CHECKOUT else "pkg://rnn_lightning_conf"


def config_folder():
    """The folder of the configs in use: the checkout's `conf/` (a `Path`), or the installed package's
    (an `importlib.resources` Traversable: `iterdir`, `/`, `read_text`, `name`)."""
    return Path(CONFIG_PATH) if not CONFIG_PATH.startswith("pkg://") else files("rnn_lightning_conf")


def _presets_of(group: str, target: str) -> list[str]:
    """The options of the config group `group` (`model`, ...) whose `_target_` is `target`, their own or
    the one of the option their `defaults` start from."""
    own, parent = {}, {}
    for file in (config_folder() / group).iterdir():
        if file.name.endswith(".yaml"):
            text, name = file.read_text(), file.name[: -len(".yaml")]
            found = re.search(r"^_target_:\s*([\w.]+)", text, re.M)
            base = re.search(r"^defaults:\s*\n\s*-\s*(\w+)\s*$", text, re.M)
            own[name], parent[name] = found and found.group(1), base and base.group(1)

    def target_of(name: str) -> str | None:
        return own.get(name) or (target_of(parent[name]) if parent.get(name) in own else None)

    return sorted(name for name in own if target_of(name) == target)


COMMANDS = {"train": "python -m rnn_sentiment.train", "lm": "python -m lm.train", "predict": "python -m rnn_sentiment.predict",
            "generate": "python -m lm.generate", "baselines": "python -m rnn_sentiment.baselines",
            "plot": "python -m rnn_sentiment.plot", "export": "python -m rnn_sentiment.export"}  # each primary config's entry point
LM_PRESET = "lm_"  # experiment and hparams_search presets of python -m lm.train start with it; the rest are train's
ADD_ON_GROUPS = {"train": ("ablation",)}  # groups outside the defaults list that an entry point takes (+group=…)


def entry_point_presets(config_name: str) -> str:
    """The config groups of the primary config `config_name` and, of each, the options it takes, one
    line a group (what `--help` shows): `model` and `data` options of its own model's and data's
    `_target_`, `experiment` and `hparams_search` presets by name (`lm_` for the language model)."""
    loader = GlobalHydra.instance().config_loader()
    base = loader.load_configuration(config_name, [], RunMode.RUN)
    groups = sorted(group for group in base.hydra.runtime.choices if not group.startswith("hydra"))
    lines = []
    for group in groups + [f"+{group}" for group in ADD_ON_GROUPS.get(config_name, ())]:
        options = loader.get_group_options(group.lstrip("+"))
        if group in ("model", "data"):
            options = _presets_of(group, OmegaConf.select(base, f"{group}._target_"))
        elif group in ("experiment", "hparams_search"):
            options = [option for option in options if option.startswith(LM_PRESET) == (config_name == "lm")]
        lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines) or "(none: every setting is a key=value)"


OmegaConf.register_new_resolver("entry_point_presets", entry_point_presets, replace=True)
OmegaConf.register_new_resolver("entry_point_command", COMMANDS.get, replace=True)


def check_task(cfg: DictConfig, target: str, entry_point: str) -> None:
    """A `UserInputError` when the presets chosen compose another entry point's model (`model=word_lstm`
    given to the classifier's trainer, `experiment=tutorial` to the language model's), naming those
    presets and the ones that fit."""
    found = cfg.model.get("_target_")
    if found == target:
        return
    choices = HydraConfig.get().runtime.choices
    given = " ".join(f"{group}={choices[group]}" for group in ("model", "experiment") if choices.get(group))
    raise UserInputError(
        f"{given} compose{'s' * (' ' not in given)} a {found.rsplit('.', 1)[-1]}, which {entry_point} does not train; "
        f"give it model={'|'.join(_presets_of('model', target))} (or an experiment of its own)"
    )
