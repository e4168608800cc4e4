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

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

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
