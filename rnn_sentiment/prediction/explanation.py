"""Which words drove a prediction: gradient × input on the word embeddings, as coloured HTML."""

import html

import torch



def word_attributions(module, text: str) -> tuple[int, float, list[tuple[str, float]]]:
    """The class the scores are toward, its probability for `text` and, per word the network read,
    its gradient × input score.

    Two classes: of the logit (the second, positive class's log-odds), whatever the prediction; more:
    of the predicted class's log-probability. A positive score pushed the prediction toward that class.
    """
    layout = module.preprocessing.layout
    words = module.tokenizer.words(text)
    flat, lengths = module.tokenizer.encode_ragged([text])
    matrix, kept = layout.matrix(flat, lengths)
    batch = layout.batch(matrix, kept, torch.tensor([0]))
    count = int(kept[0])
    read = words[-count:] if layout.truncating == "pre" else words[:count]
    read = read if count else []

    captured = {}

    def keep_embeddings(_, __, output):
        output.retain_grad()
        captured["embeddings"] = output

    module.eval()
    hook = module.net.embedding.register_forward_hook(keep_embeddings)
    try:
        with torch.enable_grad():
            logits = module(**batch)[0]
            target = 1 if logits.dim() == 0 else int(logits.argmax())
            # more classes: the log-probability, which a shift of every logit leaves alone
            score = logits if logits.dim() == 0 else torch.log_softmax(logits, dim=-1)[target]
            score.backward()
    finally:
        hook.remove()
    embeddings = captured["embeddings"]
    scores = (embeddings.grad * embeddings).sum(-1).detach()[0]
    width = scores.shape[0]
    positions = range(width - count, width) if layout.side == "pre" else range(count)
    probabilities = module.probabilities(logits.detach()).reshape(-1)  # (1,): the second class's; (C,)
    probability = probabilities[0 if logits.dim() == 0 else target].item()
    return target, probability, [(word, scores[p].item()) for word, p in zip(read, positions)]


def attribution_html(results: list[tuple[str, int, float, list[tuple[str, float]]]], label_names: list[str]) -> str:
    """One block per text (`text` and `word_attributions`' result): the class the scores are toward
    and its probability, each word shaded green (toward that class) or red (away from it)."""
    blocks = []
    for text, target, probability, scored in results:
        peak = max((abs(s) for _, s in scored), default=0.0) or 1.0
        spans = []
        for word, score in scored:
            alpha = abs(score) / peak
            colour = f"rgba(0,160,0,{alpha:.2f})" if score > 0 else f"rgba(220,0,0,{alpha:.2f})"
            spans.append(f'<span style="background:{colour}" title="{score:+.4f}">{html.escape(word)}</span>')
        if len(label_names) == 2:
            label = label_names[int(probability >= 0.5)]
            heading = f"{html.escape(label)} (p_positive = {probability:.3f})"
        else:
            heading = f"{html.escape(label_names[target])} (p = {probability:.3f})"
        blocks.append(f"<h3>{heading}</h3>\n<p>{' '.join(spans)}</p>")
    toward = "positive; red: toward negative" if len(label_names) == 2 else "the predicted class; red: away from it"
    legend = f"<p>green: pushed toward {toward} (gradient × input)</p>"
    return "<!doctype html><meta charset='utf-8'><title>word attributions</title>\n" + legend + "\n".join(blocks) + "\n"
