"""Where every entry point's `@hydra.main` finds its configs.

In a source checkout (an editable install, or `python -m` from the repository) that is the
checkout's own `conf/`, beside the code that runs, so a second checkout sharing one virtual
environment (`git worktree add`) runs with its own configs. An installed wheel carries `conf/` as
the package `rnn_lightning_conf`, which Hydra reads through its `pkg://` config source, so console
scripts and `python -m` work from any directory.
"""

from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]
_IN_CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "conf" / "__init__.py").is_file()

CONFIG_PATH = str(_CHECKOUT / "conf") if _IN_CHECKOUT else "pkg://rnn_lightning_conf"
