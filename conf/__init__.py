"""The Hydra configs; installed as the package `rnn_lightning_conf` (see pyproject.toml)."""
