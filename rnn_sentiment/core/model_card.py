"""The model card (`README.md`) of an exported network: what it is, the data it learnt from and that
data's terms, its metrics, the command that trained it, and how to use it. What the checkpoint
does not hold is read from its run directory (`metrics.json`, `.hydra/config.yaml`) when the
checkpoint still lies in `<run>/checkpoints/`."""

import json
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

TRAIN_COMMANDS = {"lm": "python -m lm.train", "sentiment": "python -m rnn_sentiment.train"}
IMDB_TERMS = ("IMDB Large Movie Review Dataset (Maas et al., 2011, ACL; ai.stanford.edu/~amaas/data/sentiment): "
              "reviews written by IMDb users, released by its authors for research; check its terms before "
              "any other use")
MOBY_DICK_TERMS = "Moby Dick (Herman Melville, 1851) from Project Gutenberg: in the public domain in the USA"
UNKNOWN_TERMS = "not known to rnn-lightning: state your data's license here before you publish"

TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{{ summary }}

## Network

| setting | value |
|---|---|
{% for key, value in settings %}| {{ key }} | {{ value }} |
{% endfor %}
## Training data

{{ data }}

License of the data: {{ terms }}

## Metrics

{% if metrics %}| metric | value |
|---|---|
{% for key, value in metrics %}| {{ key }} | {{ value }} |
{% endfor %}{% else %}No metrics were found beside the checkpoint.
{% endif %}
## How it was trained

```
{{ command }}
```

## Use

Install rnn-lightning, then give this folder's path or its Hub id (`owner/name`) wherever a checkpoint goes:

```
{{ usage }}
```

Exported with `python -m rnn_sentiment.export`; `model.safetensors` holds the weights, `config.json` the
network's settings and preprocessing, `tokenizer.json` the tokenizer (Hugging Face `tokenizers`).
"""


def model_card(checkpoint: dict, ckpt_path: Path) -> ModelCard:
    """The card of `checkpoint` (the plain dict read from `ckpt_path`)."""
    task = checkpoint["preprocessing"]["task"]
    hp = checkpoint["hyper_parameters"]
    run = ckpt_path.parent.parent if ckpt_path.parent.name == "checkpoints" else None
    recorded = _json(run / "metrics.json") if run else {}
    sources = _data_sources(run)
    terms = _terms(sources)
    data = [f"data.{key}: {value}" for key, value in sources.items() if key != "_target_" and value is not None]
    if terms == MOBY_DICK_TERMS:
        data = ["data.path: null (Moby Dick, downloaded from Project Gutenberg)"]
    settings = [("vocabulary", hp["vocab_size"]), *sorted((key, value) for key, value in hp.get("net", {}).items())]
    if task == "sentiment":
        names = checkpoint["preprocessing"].get("label_names", ["neg", "pos"])
        settings += [("classes", ", ".join(names)), ("max_len", checkpoint["preprocessing"].get("max_len"))]
        title, pipeline = "Recurrent text classifier (rnn-lightning)", "text-classification"
        summary = f"A recurrent network that sorts texts into {len(names)} classes."
        usage = ("python -m rnn_sentiment.predict ckpt_path=<folder or owner/name> text=\"a review to score\"\n"
                 "python -m rnn_sentiment.predict ckpt_path=<folder or owner/name> file=reviews.csv column=text "
                 "output=scores.csv")
    else:
        title, pipeline = "Word-level LSTM language model (rnn-lightning)", "text-generation"
        summary = "A word-level LSTM language model; its embedding and LSTM layers can start a classifier."
        usage = ("python -m lm.generate ckpt_path=<folder or owner/name> seed_text=\"this movie\" n_words=30\n"
                 "python -m rnn_sentiment.train experiment=imdb_pretrained encoder_ckpt=<folder or owner/name>")
    metrics = {key: value for key, value in recorded.items() if isinstance(value, float)} or _last_validation(checkpoint)
    overrides = recorded.get("overrides")
    if overrides is not None:  # a run resumed with ckpt_path=last was made by the same command without it
        recipe = [override for override in overrides if not override.lstrip("+").startswith("ckpt_path=")]
        command = f"{TRAIN_COMMANDS[task]} {' '.join(recipe)}".strip()
    else:
        command = "not known: the checkpoint lies outside its run directory"
    card_data = ModelCardData(library_name="rnn-lightning", pipeline_tag=pipeline, language=["en"],
                              tags=["pytorch", "lstm", "rnn-lightning"],
                              license="other" if terms != UNKNOWN_TERMS else None,
                              datasets=["stanfordnlp/imdb"] if terms == IMDB_TERMS else None)
    return ModelCard.from_template(
        card_data, template_str=TEMPLATE, title=title, summary=summary, settings=settings,
        data="\n".join(f"- {line}" for line in data) or "- not known: no run directory beside the checkpoint",
        terms=terms, metrics=[(key, f"{value:.4f}") for key, value in sorted(metrics.items())], command=command,
        usage=usage,
    )


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _last_validation(checkpoint: dict) -> dict:
    """The latest validation's metrics, which `core/callbacks.LastValidation` keeps in checkpoints."""
    for key, state in checkpoint.get("callbacks", {}).items():
        if "LastValidation" in key:
            return dict(state.get("metrics", {}))
    return {}


def _data_sources(run: Path | None) -> dict:
    """The run's data settings that name its source (`path`, `hub_dataset`, …), resolved; `_target_`
    tells the task's data module."""
    config_file = run / ".hydra" / "config.yaml" if run else None
    if config_file is None or not config_file.is_file():
        return {}
    config = OmegaConf.load(config_file)
    sources = {}
    for key in ("_target_", "path", "hub_dataset", "hub_config", "exclude_texts_of"):
        # None as well where it interpolates what only resolves inside the run (`${hydra:…}`)
        value = OmegaConf.select(config, f"data.{key}", throw_on_resolution_failure=False)
        sources[key] = _resolved(value) if OmegaConf.is_config(value) else value
    return sources


def _resolved(node):
    try:
        return OmegaConf.to_container(node, resolve=True)
    except OmegaConfBaseException:
        return OmegaConf.to_container(node)


def _terms(sources: dict) -> str:
    """The terms of the data the package knows by where it came from: IMDB (the Hub's, or files in
    a folder named as the dataset's) and the Moby Dick the language model downloads by default."""
    paths = sources.get("path") or []
    folders = {part.lower() for path in ([paths] if isinstance(paths, str) else paths) for part in Path(path).parts[:-1]}
    if (sources.get("hub_dataset") == "stanfordnlp/imdb" and not paths) or folders & {"imdb", "imdb_unsup", "aclimdb"}:
        return IMDB_TERMS
    if str(sources.get("_target_", "")).startswith("lm.") and not paths and not sources.get("hub_dataset"):
        return MOBY_DICK_TERMS
    return UNKNOWN_TERMS
