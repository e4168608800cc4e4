"""Classifying texts with a checkpoint (`python -m rnn_sentiment.predict`): the input rows read lazily
(`inputs`), tokenized a chunk at a time into length-sorted batches (`batches`), one `Trainer.predict`
over them (`classify`), each row written in input order (`writer`), and word attributions of the
first rows (`explanation`)."""
