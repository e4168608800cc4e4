"""The word-level language model: its DataModule, network, LightningModule, sampling and entry points
(`train`, `generate`, `baselines`); it takes only `rnn_sentiment.core` from the classifiers' package."""
