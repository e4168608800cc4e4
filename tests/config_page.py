"""The generated half of docs/configuration.md: every key of every entry point's config and of every
config group option, with its default and the comment beside it in `conf/`.

`python tests/config_page.py` rewrites that half of the page; `test_docs.py` fails while the page
differs from what `conf/` holds, so the page cannot go stale.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
PAGE = ROOT / "docs" / "configuration.md"
MARKER = "<!-- Everything below is generated from conf/ by `python tests/config_page.py`; edit conf/, not this. -->"
ENTRY_POINTS = {  # primary config: the commands that read it
    "train.yaml": "`python -m rnn_sentiment.train`",
    "lm.yaml": "`python -m lm.train`, `python -m lm.baselines`",
    "predict.yaml": "`python -m rnn_sentiment.predict`",
    "generate.yaml": "`python -m lm.generate`",
    "plot.yaml": "`python -m rnn_sentiment.plot`",
    "baselines.yaml": "`python -m rnn_sentiment.baselines`",
    "export.yaml": "`python -m rnn_sentiment.export`",
}
GROUPS_WITH_KEYS = ["data", "model", "trainer", "callbacks", "logger", "paths"]
KEY = re.compile(r"^(?P<indent> *)(?P<key>[\w@-]+):(?P<value>[^#]*?)\s*(?:#\s?(?P<comment>.*))?$")
CONTINUATION = re.compile(r"^(?P<indent> +)#\s?(?P<comment>.*)$")


def keys_of(path: Path) -> tuple[list[str], list[tuple[str, str, str]]]:
    """(the options it extends, [(dotted key, default as written, comment)]) of one YAML file, in file
    order: leaf keys, and mappings that carry a comment; `_target_`, `defaults` and Hydra's own
    settings (`hydra:`) are left out. A comment line indented past the previous key continues its
    comment; comment lines right above a key without a comment of its own describe it."""
    extends, rows, stack, above = [], [], [], []  # stack: (indent, key) of the open mappings
    in_defaults, last_indent = False, None
    for line in path.read_text().splitlines():
        if in_defaults and line.startswith("  - "):
            option = line[4:].split("#")[0].strip()
            if option != "_self_" and not option.startswith("override"):
                extends.append(option)
            continue
        in_defaults = False
        comment = CONTINUATION.match(line) or (line.lstrip().startswith("#") and re.match(r"^(?P<indent>)#\s?(?P<comment>.*)$", line.lstrip()))
        if comment:
            indent = len(line) - len(line.lstrip())
            if rows and last_indent is not None and indent > last_indent:
                rows[-1] = (*rows[-1][:2], f"{rows[-1][2]} {comment['comment'].strip()}".strip())
            else:
                above.append(comment["comment"].strip())
            continue
        match = KEY.match(line)
        if not match:
            above, last_indent = [], None
            continue
        described, above = " ".join(above), []
        if match["key"] == "defaults" and not match["indent"]:
            in_defaults, last_indent = True, None
            continue
        indent = match["indent"]
        while stack and len(stack[-1][0]) >= len(indent):
            stack.pop()
        dotted = ".".join([key for _, key in stack] + [match["key"]])
        value, said = match["value"].strip(), (match["comment"] or described).strip()
        last_indent = None
        if not value:  # a mapping opens; its comment describes the whole block
            stack.append((indent, match["key"]))
            if said and dotted.split(".")[0] != "hydra":
                rows.append((dotted, "", said))
                last_indent = len(indent)
            continue
        if dotted.split(".")[0] == "hydra" or match["key"] == "_target_":
            continue
        rows.append((dotted, value, said))
        last_indent = len(indent)
    return extends, rows


def table(rows: list[tuple[str, str, str]], prefix: str) -> list[str]:
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key, value, comment in rows:
        shown = f"`{value}`" if value else "(a group of keys)"
        said = comment.replace("|", "&#124;").replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")
        lines.append(f"| `{prefix}{key}` | {shown} | {said} |")
    return lines


def generated() -> str:
    out = [MARKER, "", "## Keys of each entry point", ""]
    for name, commands in ENTRY_POINTS.items():
        extends, rows = keys_of(CONF / name)
        out += [f"### `conf/{name}`", "", f"Read by {commands}; groups: "
                + (", ".join(f"`{g}`" for g in extends) or "none") + ".", ""]
        out += table(rows, "") + [""] if rows else ["No keys of its own.", ""]
    out += ["## Keys of each group option", "",
            "Set one as `<group>.<key>=value` (`data.max_len=800`); an option that extends another has the "
            "other's keys too.", ""]
    for group in GROUPS_WITH_KEYS:
        for path in sorted((CONF / group).glob("*.yaml")):
            extends, rows = keys_of(path)
            out += [f"### `{group}={path.stem}`", ""]
            if extends:
                out += ["Extends " + ", ".join(f"`{group}={option}`" for option in extends) + ".", ""]
            out += table(rows, f"{group}.") + [""] if rows else ["No keys of its own.", ""]
    return "\n".join(out).rstrip() + "\n"


def page_with_generated_part() -> str:
    written = PAGE.read_text()
    return written.split(MARKER)[0] + generated()


if __name__ == "__main__":
    PAGE.write_text(page_with_generated_part())
    sys.exit(0)
