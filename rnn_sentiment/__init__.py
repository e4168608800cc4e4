"""The IMDB sentiment classifiers: their DataModule, networks, LightningModule and entry points
(`train`, `predict`, `plot`, `baselines`); what both tasks share lives in `rnn_sentiment.core`."""
