"""The command line's `key=value` options checked against the kinds their keys take, before any work
starts: `data.max_len=abc`, `model.lr=[1]`, `Cs=7` or `trainer.max_epochs=2.5` stop with one line
naming the option, what it takes and an example, instead of failing later in a traceback.

A key's kind is what `conf/` gives it: the values it has in any file (presets included), `${other}`
standing for `other`'s; a `trainer.` argument's is Lightning's annotation where that is numbers or
booleans alone. Keys that are null in every file and name a file, a folder or a column are declared
in `TEXTS`. A text key given a number or a boolean (`seed_text=1984`, `explain=7`) takes it as the
text written; which texts a key accepts (`model.net.cell=gru2`) is checked by the code that reads it.
"""

import math
import re
import typing
from dataclasses import dataclass, field
from functools import lru_cache

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from lightning.pytorch import Trainer
from omegaconf import DictConfig, ListConfig, OmegaConf

from rnn_sentiment.core.configs import config_folder
from rnn_sentiment.core.errors import UserInputError

# null in every file of conf/, and a text (a path, a column, a name) when given; `LISTS_TOO` may also be lists
TEXTS = {"ckpt_path", "text", "file", "format", "id_column", "output", "explain", "run_dir", "out", "encoder_ckpt",
         "model.encoder_ckpt", "data.tokenizer_from", "data.hub_config", "data.path", "data.unlabelled_path",
         "data.exclude_texts_of", "trainer.default_root_dir"}
LISTS_TOO = {"data.path", "data.exclude_texts_of", "data.text_column"}
NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a text"}
PLURALS = {bool: "booleans", int: "whole numbers", float: "numbers", str: "texts"}


@dataclass
class Kind:
    """What a key's values in `conf/` are: scalars of `types`, lists of `items`, null."""

    types: set[type] = field(default_factory=set)
    items: set[type] = field(default_factory=set)
    nullable: bool = False
    example: object = None

    def add(self, value) -> None:
        if value is None:
            self.nullable = True
            return
        if isinstance(value, list):
            self.items.update(type(item) for item in value if item is not None)
        else:
            self.types.add(type(value))
        if self.example is None:
            self.example = value


def _leaves(node, prefix: str):
    """(dotted key, value as written) for every leaf of a loaded YAML file; a list is one leaf."""
    for key in node.keys():
        if key in ("defaults", "hydra", "_target_"):
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            yield from _leaves(child, f"{prefix}{key}.")
        elif isinstance(child, ListConfig):
            yield f"{prefix}{key}", OmegaConf.to_container(child, resolve=False)
        else:
            yield f"{prefix}{key}", child._value()


def _yaml_files(folder, parts: tuple[str, ...]):
    """(path parts, file) of every YAML file below `folder` (a Path or a package's Traversable)."""
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _yaml_files(entry, (*parts, entry.name))
        elif entry.name.endswith(".yaml"):
            yield (*parts, entry.name), entry


@lru_cache(maxsize=1)
def kinds_in_conf() -> dict[str, Kind]:
    """dotted key → its `Kind`, for every key of every file of `conf/`: a group option's keys under the
    group's name (`data.max_len`), an `@package _global_` file's and a primary config's at the top. A
    `${other}` value counts as `other`'s values; other interpolations are left out."""
    found: dict[str, Kind] = {}
    aliases: dict[str, str] = {}
    for parts, file in _yaml_files(config_folder(), ()):
        if parts[0] == "hydra":
            continue
        text = file.read_text()
        top = len(parts) == 1 or "@package _global_" in text.split("\n", 1)[0]
        for key, value in _leaves(OmegaConf.create(text), "" if top else ".".join(parts[:-1]) + "."):
            if isinstance(value, str) and "${" in value:
                alias = re.fullmatch(r"\$\{([\w.]+)\}", value)
                if alias:
                    aliases[key] = alias.group(1)
                continue
            found.setdefault(key, Kind()).add(value)
    for key, other in aliases.items():
        if other in found and key not in found:
            found[key] = found[other]
    return found


def _trainer_kind(name: str) -> Kind | str | None:
    """`lightning.Trainer`'s annotation of its argument `name`: a `Kind` when it takes numbers or
    booleans alone (and null), or a text and objects (`profiler`); "unchecked" when it takes a text
    and numbers or lists (`devices=auto`); None when it takes other objects besides (`logger`: conf/'s
    values decide) or is no argument of Trainer."""
    hint = typing.get_type_hints(Trainer.__init__).get(name)
    if hint is None:
        return None
    types = {typing.get_origin(kind) or kind for kind in (typing.get_args(hint) or (hint,))}
    if str in types and types & {int, list}:
        return "unchecked"
    if str in types:  # a name or an object (`profiler=simple`): a number given is the name written
        return Kind(types={str}, nullable=type(None) in types)
    if not types - {type(None)} <= {bool, int, float}:
        return None
    return Kind(types=types - {type(None)}, nullable=type(None) in types)


def kind_of(key: str) -> Kind | None:
    """The `Kind` a command line's `key=value` is checked against, or None where it is not checked."""
    if key in TEXTS:
        return Kind(types={str}, items={str} if key in LISTS_TOO else set(), nullable=True)
    trainer = _trainer_kind(key.split(".", 1)[1]) if key.startswith("trainer.") and key.count(".") == 1 else None
    if trainer == "unchecked":
        return None
    kind = trainer or kinds_in_conf().get(key)
    if trainer and key in kinds_in_conf():
        trainer.example = kinds_in_conf()[key].example
    if kind is None or not (kind.types or kind.items):
        return None
    if key in LISTS_TOO:
        return Kind(kind.types | {str}, kind.items | {str}, kind.nullable, kind.example)
    return kind


def _fits(value, types: set[type]) -> bool:
    whole = isinstance(value, int) and not isinstance(value, bool)
    number = whole or (isinstance(value, float) and math.isfinite(value))
    return ((bool in types and isinstance(value, bool)) or (int in types and whole) or (float in types and number)
            or (str in types and isinstance(value, str)))


def _described(types: set[type]) -> str:
    shown = [NAMES[kind] for kind in NAMES if kind in types and not (kind is int and float in types)]
    return " or ".join(shown)


def _plural(types: set[type]) -> str:
    return " or ".join(PLURALS[kind] for kind in PLURALS if kind in types and not (kind is int and float in types))


def _shown(value) -> str:
    if isinstance(value, list):
        return "[" + ",".join(map(_shown, value)) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def checked_value(key: str, value, written: str):
    """`value` (Hydra's reading of `key=written`) if `key` takes it; for a text key given a number or a
    boolean, `written` itself; else a `UserInputError` naming the option, what it takes and an example."""
    kind = kind_of(key)
    if kind is None or (value is None and kind.nullable):
        return value
    example = f", e.g. {key}={_shown(kind.example)}" if kind.example is not None else ""
    if value is None:
        raise UserInputError(f"{key} cannot be null; give it a value{example}")
    if isinstance(value, (list, ListConfig)):
        items = list(value)
        if kind.items and all(_fits(item, kind.items) for item in items):
            return value
        if str in kind.items and all(isinstance(item, (str, int, float, bool)) for item in items):
            return [item if isinstance(item, str) else str(item) for item in items]
        takes = f"a list of {_plural(kind.items)}" if kind.items else _described(kind.types)
        raise UserInputError(f"{key}={_shown(items)} must be {takes}{example}")
    if isinstance(value, (dict, DictConfig)):
        raise UserInputError(f"{key}={written} must be {_described(kind.types) or 'a list'}{example}")
    if _fits(value, kind.types):
        return value
    if str in kind.types:  # a text written as a number or a boolean: the text it is
        return written
    takes = _described(kind.types) or f"a list of {_plural(kind.items)}"
    raise UserInputError(f"{key}={written} must be {takes}{example}")


SET_THROUGH = {"model.encoder_ckpt": "encoder_ckpt"}  # keys set by another, one key for the user


def check_command_line(cfg: DictConfig) -> None:
    """Every `key=value` of this job's command line (Hydra's task overrides: a sweep job's own values)
    checked by `checked_value`, and a text given as a number set in `cfg` as the text written; group
    choices (`model=lstm`), removals (`~key`) and Hydra's own keys are Hydra's."""
    if not HydraConfig.initialized():
        return
    for override in OverridesParser.create().parse_overrides(list(HydraConfig.get().overrides.task)):
        key = override.key_or_group
        if override.is_delete() or key.startswith("hydra") or "/" in key or key in _groups():
            continue
        if key in SET_THROUGH:
            raise UserInputError(f"{key} follows {SET_THROUGH[key]}; give {SET_THROUGH[key]}={override.value()} instead")
        value = OmegaConf.select(cfg, key, default=None, throw_on_resolution_failure=False)
        written = override.input_line.split("=", 1)[1] if override.input_line else str(value)
        checked = checked_value(key, value, written)
        if checked is not value:
            OmegaConf.update(cfg, key, checked, merge=False)


@lru_cache(maxsize=1)
def _groups() -> frozenset[str]:
    return frozenset(entry.name for entry in config_folder().iterdir() if entry.is_dir())
