"""Which words drove a prediction: gradient × input on the word embeddings, as coloured HTML."""

import html

import torch

from rnn_sentiment.core.batching import Layout


def word_attributions(module, text: str) -> tuple[float, list[tuple[str, float]]]:
    """The positive probability of `text` and, per word the network read, its gradient × input score.

    A positive score pushed the prediction toward the positive class.
    """
    pre = module.preprocessing
    layout = Layout(pre["max_len"], pre["padding"], pre["truncating"], pre["batching"])
    words = module.tokenizer.words(text)
    flat, lengths = module.tokenizer.encode_ragged([text])
    matrix, kept = layout.matrix(flat, lengths)
    batch = layout.batch(matrix, kept, torch.tensor([0]))
    count = int(kept[0])
    read = words[-count:] if pre["truncating"] == "pre" else words[:count]
    read = read if count else []

    captured = {}

    def keep_embeddings(_, __, output):
        output.retain_grad()
        captured["embeddings"] = output

    module.eval()
    hook = module.net.embedding.register_forward_hook(keep_embeddings)
    try:
        with torch.enable_grad():
            logit = module(**batch)[0]
            logit.backward()
    finally:
        hook.remove()
    embeddings = captured["embeddings"]
    scores = (embeddings.grad * embeddings).sum(-1).detach()[0]
    width = scores.shape[0]
    positions = range(width - count, width) if layout.side == "pre" else range(count)
    return torch.sigmoid(logit).item(), [(word, scores[p].item()) for word, p in zip(read, positions)]


def attribution_html(results: list[tuple[str, float, list[tuple[str, float]]]], label_names: list[str]) -> str:
    """One block per text: its label and probability, each word shaded green (toward positive) or red."""
    blocks = []
    for text, probability, scored in results:
        peak = max((abs(s) for _, s in scored), default=0.0) or 1.0
        spans = []
        for word, score in scored:
            alpha = abs(score) / peak
            colour = f"rgba(0,160,0,{alpha:.2f})" if score > 0 else f"rgba(220,0,0,{alpha:.2f})"
            spans.append(f'<span style="background:{colour}" title="{score:+.4f}">{html.escape(word)}</span>')
        label = label_names[int(probability >= 0.5)]
        blocks.append(f"<h3>{html.escape(label)} (p_positive = {probability:.3f})</h3>\n<p>{' '.join(spans)}</p>")
    legend = "<p>green: pushed toward positive; red: toward negative (gradient × input)</p>"
    return "<!doctype html><meta charset='utf-8'><title>word attributions</title>\n" + legend + "\n".join(blocks) + "\n"
