"""The package's layering: `rnn_sentiment.core` imports neither task, and the tasks share only the core."""

import ast
from pathlib import Path

import pytest

from conftest import ROOT


def imported_modules(file: Path) -> set[str]:
    """Every module `file` imports, at its top or inside a function, as a dotted name."""
    names = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def ours(names: set[str]) -> set[str]:
    return {name for name in names if name.split(".")[0] in ("rnn_sentiment", "lm")}


CORE_FILES = sorted((ROOT / "rnn_sentiment" / "core").glob("*.py"))


def test_the_core_holds_the_shared_machinery():
    names = {file.stem for file in CORE_FILES}
    assert {"text", "sources", "batching", "datamodule", "cache", "training", "callbacks", "checkpoints",
            "sweep", "errors", "files"} <= names


@pytest.mark.parametrize("file", CORE_FILES, ids=lambda file: file.name)
def test_the_core_imports_neither_task(file):
    task_imports = {name for name in ours(imported_modules(file)) if not name.startswith("rnn_sentiment.core")}
    assert not task_imports, f"{file.name} imports {sorted(task_imports)}"


@pytest.mark.parametrize("file", sorted((ROOT / "lm").glob("*.py")), ids=lambda file: file.name)
def test_the_language_model_takes_only_the_core_from_rnn_sentiment(file):
    sentiment = {name for name in ours(imported_modules(file))
                 if name.startswith("rnn_sentiment") and not name.startswith("rnn_sentiment.core")}
    assert not sentiment, f"lm/{file.name} imports {sorted(sentiment)}"


CLASSIFIER_FILES = sorted(set((ROOT / "rnn_sentiment").rglob("*.py")) - set(CORE_FILES))


@pytest.mark.parametrize("file", CLASSIFIER_FILES, ids=lambda file: str(file.relative_to(ROOT / "rnn_sentiment")))
def test_the_classifiers_import_nothing_of_the_language_model(file):
    assert not {name for name in ours(imported_modules(file)) if name.split(".")[0] == "lm"}
