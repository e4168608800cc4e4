"""What both tasks stand on, importing neither: text and padding, data sources, batching, the cached
base DataModule, the training entry, callbacks, checkpoints, TensorBoard extras, sweeps, errors and
atomic file writing. `rnn_sentiment/` (the classifiers) and `lm/` (the language model) import it."""
