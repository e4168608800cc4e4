"""What both tasks stand on, importing neither: text and padding, data sources, batching, the cached
base DataModule, the training entry, callbacks, checkpoints, TensorBoard extras, sweeps, errors and
atomic file writing. `rnn_sentiment/` (the classifiers) and `lm/` (the language model) import it."""

import sys
import types

# TensorBoard's own switch to its TensorFlow-free file API (its `compat:no_tensorflow` target). Where
# TensorFlow is installed, writing or reading local event files would otherwise import all of it:
# about 4 s on every start, and its log lines on stderr.
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
