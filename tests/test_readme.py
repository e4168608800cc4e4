"""Every command in the ```bash blocks of the README and of docs/*.md works as written.

How a README command is read:
- A line ending in `\\` continues on the next; `#` outside quotes starts a comment; comment-only and
  blank lines are skipped. A command splits into simple commands at `&&`, `||`, `;` and `|`;
  `< file` and `> file` redirect (written with a space after the `<`).
- Placeholders are `<…>` with no space after the `<` (`<run>`, `<lm_tutorial run>`), `…` and `...`.
  In `ckpt_path=` they stand for a checkpoint the test trains first (of the language model for
  `lm.*` entry points, else of the classifier); in `run_dir=`, `hydra.run.dir=` and `--logdir` for
  a run directory it trained (a sweep directory when the value says `multirun`, a language-model
  run when it says `lm` or the entry point is `lm.*`). Anywhere else a placeholder fails the test.

How each simple command is checked (the working directory is an empty stand-in for the repository
root, beside a `shared/data/` of tiny files: `imdb/`, `imdb_unsup/`, `moby_dick.txt`,
`sentences/{sst5,sst2,trec,mr}/` (five, two, six and two classes), so that
`data.path=../shared/data/…` reads tiny data):
- Set-up (`python3 -m venv`, `. .venv/bin/activate`, `pip install …`, `pytest`): not run; the set-up
  command that ends in `pytest` must be a line of `.ci/run`, which is what CI runs.
- Entry points: `python -m <module>` for a module of the package with `@hydra.main`, or its console
  script (pyproject's [project.scripts]), optionally behind `srun` or `torchrun [options] -m`.
  * Trainings (`*.train`, which take minutes to hours on the real data): composed (`--cfg job`
    appended, in the test's own process), then everything the job trains with is built from that
    config on the tiny data: the DataModule set up, the LightningModule, the Trainer (the fit is tested
    per network and task elsewhere). A multirun (`-m`) is checked once per job of its sweep (jobs that
    differ only in `seed=` are built once); `encoder_ckpt` gets the test's language model; a
    `data.path` table the sandbox lacks (a user's own file) is written with the columns the command
    names. Composed only: data that needs the network (the Hub's, Project Gutenberg's Moby Dick) and
    cluster launches (`srun`, `torchrun`, `hydra/launcher=slurm`, `trainer=gpu|ddp|multinode`).
  * Run as written when it already asks Hydra only to show something (`--cfg`, `--help`,
    `--hydra-help`, `--info`).
  * Everything else (predict, generate, plot, baselines, …) runs for real, with placeholders filled
    in; an input file it names (`file=x`, `< x`, `cat x`) that does not exist is written, tiny: one
    text a line for .txt, else a table with the column given by `column=` (default `text`) and the
    one given by `id_column=`, if any.
- `tensorboard --logdir D`: `tensorboard --inspect --logdir D` after the test's runs below D exist;
  it must find event files.
- `python benchmarks/<script>.py …`: too long to run; every `--option` given must be one the
  script's `--help` lists.
- `echo` and `printf` feed pipes as written.
- `mutmut run|results|show …` (hours): `mutmut --help` must run, with pyproject's `[tool.mutmut]`.
Any other form fails the test: add a rule here rather than skipping a command.
"""

import fnmatch
import functools
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest.mock import patch

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate

from conftest import ROOT, run_in_process, sentiment_frame
from rnn_sentiment.core.training import instantiate_config
from rnn_sentiment.pretrained_encoder import with_encoder_settings
from test_classes import class_label_dataset, class_rows

PLACEHOLDER = "@PLACEHOLDER@"
OPERATORS = {"&&", "||", ";", "|"}
REDIRECTIONS = {"<", ">", ">>"}
SETUP = ("python3 -m venv", ". .venv/bin/activate", "source .venv/bin/activate", "pip install", "pytest")
SHOW_ONLY = {"--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i"}
GROUP_GLOB = re.compile(r"^(\+?)([\w/]+)=glob\((.+)\)$")
CLUSTER_OVERRIDES = re.compile(r"^(hydra/launcher=slurm|trainer=(gpu|ddp|multinode))$")
TINY_TRAINING = ["trainer.max_epochs=2", "trainer.enable_progress_bar=false", "data.batch_size=16",
                 "data.max_len=40", "++trainer.limit_val_batches=2", "++trainer.limit_test_batches=2"]
TINY_LM = ["data.seq_len=8", "data.batch_size=8", "model.net.embed_dim=16", "model.net.hidden_size=16",
           "trainer.max_epochs=2", "trainer.enable_progress_bar=false"]
TEXTS = ["A superb film, really.", "Boring and dreadful.", "The plot was great, the actors wonderful."]


DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def readme_commands() -> list[tuple[str, str]]:
    """(`file:line`, command) for every distinct command of the ```bash blocks of the README and the
    pages of docs/, comments removed; a command written in several places is checked where it first
    appears."""
    found = {}
    for page in DOCUMENTS:
        for line, command in page_commands(page):
            found.setdefault(command.strip(), f"{page.relative_to(ROOT)}:{line}")
    return [(line, command) for command, line in found.items()]


def page_commands(page: Path) -> list[tuple[int, str]]:
    """(line number, command) for every command of one Markdown page's ```bash blocks."""
    commands, in_block, pending, start = [], False, "", 0
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if line.strip().startswith("```"):
            in_block = line.strip() == "```bash" if not in_block else False
            continue
        if not in_block:
            continue
        start = start or number
        text = strip_comment(line).rstrip()
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        command = " ".join((pending + text).split())
        if command:
            commands.append((start, command))
        pending, start = "", 0
    return commands


def strip_comment(line: str) -> str:
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index]
    return line


def simple_commands(command: str) -> tuple[list[list[str]], list[str]]:
    """The simple commands (argv with redirections) and the operators between them."""
    marked = re.sub(r"<[^\s<>][^<>]*>|…|\.\.\.", PLACEHOLDER, command)
    lexer = shlex.shlex(marked, posix=True, punctuation_chars="&|;<>")
    lexer.whitespace_split = True
    segments, operators, current = [], [], []
    for token in lexer:
        if token in OPERATORS:
            segments.append(current)
            operators.append(token)
            current = []
        else:
            current.append(token)
    return segments + [current], operators


def entry_points() -> set[str]:
    """Every module of the package with a `@hydra.main`."""
    return {f"{package}.{file.stem}" for package in ("rnn_sentiment", "lm") for file in (ROOT / package).glob("*.py")
            if "@hydra.main(" in file.read_text()}


def console_scripts() -> dict[str, str]:
    """Script name -> module, from pyproject.toml's [project.scripts]."""
    section = (ROOT / "pyproject.toml").read_text().split("[project.scripts]")[1].split("\n[")[0]
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([\w.]+):\w+"', section, re.MULTILINE))


class Sandbox:
    """An empty stand-in for the repository root beside tiny shared data; trains what commands refer to."""

    def __init__(self, root: Path):
        self.cwd = root / "repo"
        self.cwd.mkdir(parents=True)
        data = root / "shared" / "data"
        (data / "imdb").mkdir(parents=True)
        sentiment_frame(320, seed=1).to_parquet(data / "imdb" / "train.parquet")
        sentiment_frame(120, seed=2).to_parquet(data / "imdb" / "test.parquet")
        (data / "imdb_unsup").mkdir()
        unlabelled = sentiment_frame(100, seed=3)[["text"]]  # with 12,000 more words: enough for lm_imdb's
        unlabelled["text"] += [" " + " ".join(f"w{row}x{n}" for n in range(120)) for row in range(100)]  # cutoffs
        unlabelled.to_parquet(data / "imdb_unsup" / "unsupervised.parquet")
        (data / "moby_dick.txt").write_text("\n".join(["Call me Ishmael. The ship sailed, and the whale swam!"] * 300))
        for name, classes, splits in (("sst5", 5, ("train", "validation", "test")), ("sst2", 2, ("train", "validation", "test")),
                                      ("trec", 6, ("train", "test")), ("mr", 2, ("train",))):
            (data / "sentences" / name).mkdir(parents=True)
            names = [f"class {index}" for index in range(classes)]
            for seed, split in enumerate(splits):
                class_label_dataset(class_rows(200, seed, names), names).to_parquet(
                    data / "sentences" / name / f"{split}.parquet")
        self.written: set[Path] = set()  # input files the sandbox made up, as each command describes them
        self.environment = {**os.environ, "PYTHONWARNINGS": "ignore",
                            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
                            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    def shell(self, command: str, timeout: int = 600) -> subprocess.CompletedProcess:
        result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=self.cwd, env=self.environment,
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"$ {command}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
        return result

    @functools.cache
    def run_dir(self, kind: str) -> Path:
        """A finished tiny run: `sentiment` or `lm`, or a two-job `sweep` of the classifier."""
        python = shlex.quote(sys.executable)
        if kind == "lm":
            self.shell(f"{python} -m lm.train data.path=../shared/data/moby_dick.txt {' '.join(TINY_LM)} "
                       "hydra.run.dir=outputs/lm/runs/tiny")
            return self.cwd / "outputs/lm/runs/tiny"
        tiny = f"data.path=../shared/data/imdb {' '.join(TINY_TRAINING)}"
        if kind == "sweep":
            self.shell(f"{python} -m rnn_sentiment.train -m model=elman,lstm {tiny} "
                       "hydra.sweep.dir=outputs/sentiment/multirun/tiny")
            return self.cwd / "outputs/sentiment/multirun/tiny"
        self.shell(f"{python} -m rnn_sentiment.train {tiny} hydra.run.dir=outputs/sentiment/runs/tiny")
        return self.cwd / "outputs/sentiment/runs/tiny"

    def write_table(self, path: str, arguments: list[str]) -> None:
        """A labelled table at a `data.path` the sandbox lacks (a user's own file), with the columns
        that `data.text_column` (one or a list) and `data.label_column` name; a file the sandbox wrote
        for an earlier command is written again with this one's columns."""
        file = self.cwd / path
        if (file.exists() and file not in self.written) or not file.suffix:
            return
        self.written.add(file)
        options = dict(a.split("=", 1) for a in arguments if a.startswith("data.") and "=" in a)
        texts = options.get("data.text_column", "text").strip("[]").split(",")
        frame = sentiment_frame(200, seed=4)
        table = pd.DataFrame({column: frame["text"] for column in texts})
        table[options.get("data.label_column", "label")] = frame["label"].map({0: "neg", 1: "pos"})
        {".csv": lambda: table.to_csv(file, index=False), ".parquet": lambda: table.to_parquet(file),
         ".jsonl": lambda: table.to_json(file, orient="records", lines=True)}[file.suffix]()

    def write_input(self, name: str, column: str, id_column: str | None = None) -> None:
        path = self.cwd / name
        if (path.exists() and path not in self.written) or name == "-" or Path(name).is_absolute():
            return
        self.written.add(path)
        frame = pd.DataFrame({column: TEXTS})
        if id_column:
            frame.insert(0, id_column, [f"r{i}" for i in range(len(TEXTS))])
        writers = {".txt": lambda: path.write_text("\n".join(TEXTS) + "\n"),
                   ".csv": lambda: frame.to_csv(path, index=False),
                   ".jsonl": lambda: frame.to_json(path, orient="records", lines=True),
                   ".parquet": lambda: frame.to_parquet(path)}
        if path.suffix not in writers:
            pytest.fail(f"no rule in tests/test_readme.py to write an input file like {name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        writers[path.suffix]()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Sandbox:
    return Sandbox(tmp_path_factory.mktemp("readme"))


def is_setup(argv: list[str]) -> bool:
    return " ".join(argv).startswith(SETUP)


def entry_point(argv: list[str]) -> tuple[str, list[str], bool] | None:
    """(module, Hydra arguments, launched on a cluster) when argv runs an entry point, else None."""
    cluster = False
    if argv[0] == "srun":
        argv, cluster = argv[1:], True
    if argv[0] == "torchrun" and "-m" in argv:
        argv, cluster = ["python", *argv[argv.index("-m"):]], True
    if argv[0] in ("python", "python3") and len(argv) > 2 and argv[1] == "-m" and argv[2] in entry_points():
        return argv[2], argv[3:], cluster
    if argv[0] in console_scripts():
        return console_scripts()[argv[0]], argv[1:], cluster
    return None


def placeholder_value(key: str, value: str, module: str, sandbox: Sandbox) -> str:
    if key == "ckpt_path":
        return str(sandbox.run_dir("lm" if module.startswith("lm.") else "sentiment") / "checkpoints" / "last.ckpt")
    if key in ("run_dir", "hydra.run.dir", "--logdir"):
        kind = "sweep" if "multirun" in value else "lm" if "lm" in value or module.startswith("lm.") else "sentiment"
        return str(sandbox.run_dir(kind))
    pytest.fail(f"no rule in tests/test_readme.py for a placeholder in {key}={value}")


def filled_in(arguments: list[str], module: str, sandbox: Sandbox) -> list[str]:
    """Placeholders replaced by what the test trained; input files written."""
    column = next((a.split("=", 1)[1] for a in arguments if a.startswith("column=")), "text")
    id_column = next((a.split("=", 1)[1] for a in arguments if a.startswith("id_column=")), None)
    result = []
    for index, argument in enumerate(arguments):
        key, _, value = argument.partition("=")
        if PLACEHOLDER in argument and index > 0 and arguments[index - 1].startswith("--"):
            argument = placeholder_value(arguments[index - 1], argument, module, sandbox)
        elif PLACEHOLDER in argument:
            argument = f"{key}={placeholder_value(key, value, module, sandbox)}"
        elif key == "file":
            sandbox.write_input(value, column, id_column)
        result.append(argument)
    return result


def group_glob(argument: str) -> str:
    """`+ablation=glob(*)` → `+ablation=bptt_70,…`: a config group's options matching the pattern
    (the sweeper alone cannot list them; Hydra's config loader does that in a real run)."""
    found = GROUP_GLOB.match(argument)
    if not found:
        return argument
    plus, group, pattern = found.groups()
    options = sorted(f.stem for f in (ROOT / "conf" / group).glob("*.yaml") if fnmatch.fnmatch(f.stem, pattern))
    assert options, f"{argument}: no option of conf/{group} matches"
    return f"{plus}{group}={','.join(options)}"


def composed(module: str, arguments: list[str]) -> list[list[str]]:
    """One `--cfg job` command per job of the (possibly multirun) command."""
    arguments = [group_glob(a.replace(PLACEHOLDER, "placeholder")) for a in arguments]
    if not {"-m", "--multirun"} & set(arguments):
        return [["python", "-m", module, *arguments, "--cfg", "job"]]
    overrides = [a for a in arguments if a not in ("-m", "--multirun")]
    parsed = OverridesParser.create().parse_overrides(overrides)
    (jobs,) = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    return [["python", "-m", module, *job, "--cfg", "job"] for job in jobs]


def checked(argv: list[str], sandbox: Sandbox) -> list[list[str]]:
    """The argv (or argvs, one per composed job) that check one simple command of the README."""
    redirect = next((argv[i + 1] for i, token in enumerate(argv[:-1]) if token == "<"), None)
    if redirect:
        sandbox.write_input(redirect, "text")
    launched = entry_point(argv)
    if launched:
        module, arguments, cluster = launched
        if SHOW_ONLY & set(arguments):
            return [["python", "-m", module, *arguments]]
        if cluster or module.endswith(".train") or any(CLUSTER_OVERRIDES.match(a) for a in arguments):
            return composed(module, arguments)
        return [["python", "-m", module, *filled_in(arguments, module, sandbox)]]
    if argv[0] == "tensorboard" and "--logdir" in argv:
        return [["tensorboard", "--inspect", *filled_in(argv[1:], "tensorboard", sandbox)]]
    if argv[0] in ("python", "python3") and len(argv) > 1 and argv[1].startswith("benchmarks/"):
        return [["python", str(ROOT / argv[1]), *argv[2:]]]
    if argv[0] in ("echo", "printf"):
        return [argv]
    if argv[0] == "mutmut" and argv[1:2] in (["run"], ["results"], ["show"]):
        return [["mutmut", "--help"]]  # a mutation run takes hours: the tool must be there, configured

    if argv[0] == "cat" and len(argv) == 2:
        sandbox.write_input(argv[1], "text")
        return [argv]
    pytest.fail(f"no rule in tests/test_readme.py for the README command form: {shlex.join(argv)}")


def shell_line(argv: list[str]) -> str:
    program = sys.executable if argv[0] in ("python", "python3") else argv[0]
    return " ".join([shlex.quote(program), *(t if t in REDIRECTIONS else shlex.quote(t) for t in argv[1:])])


@pytest.mark.slow
@pytest.mark.parametrize("line, command", readme_commands(), ids=lambda v: str(v)[:90] if isinstance(v, str) else v)
def test_readme_command(line, command, sandbox):
    segments, operators = simple_commands(command)
    if any(is_setup(s) for s in segments):
        # what CI runs (checked below); anything chained after the set-up is an ordinary command
        while segments and is_setup(segments[0]):
            segments, operators = segments[1:], operators[1:]
        assert not any(is_setup(s) for s in segments), f"{line}: set-up mixed with other commands"
        if not segments:
            return
    checks = [checked(segment, sandbox) for segment in segments]
    if len(segments) == 1:
        for argv in checks[0]:
            assert_works(argv, sandbox)
        return
    assert all(len(c) == 1 for c in checks), f"{line}: a sweep inside a pipeline has no rule"
    pipeline = " ".join(part for check, operator in zip(checks, [*operators, ""])
                        for part in (shell_line(check[0]), operator) if part)
    sandbox.shell(pipeline)


@functools.cache
def script_help(script: str, sandbox: Sandbox) -> str:
    """What `python <script> --help` prints (once per script and worker: it imports torch and more)."""
    return sandbox.shell(shell_line(["python", script, "--help"])).stdout


def assert_works(argv: list[str], sandbox: Sandbox) -> None:
    if argv[:2] == ["python", "-m"] and argv[-2:] == ["--cfg", "job"]:
        show_job_config(argv[2], argv[3:])
        arguments = argv[3:-2]
        if argv[2].endswith(".train") and not any(CLUSTER_OVERRIDES.match(a) for a in arguments):
            build_for_training(argv[2], arguments, sandbox)
        return
    if argv[:2] == ["python", str(ROOT / argv[1])] and argv[1].endswith(".py"):
        options = [a.split("=")[0] for a in argv[2:] if a.startswith("--")]
        shown = script_help(argv[1], sandbox)
        assert all(re.search(rf"{re.escape(o)}\b", shown) for o in options), (options, shown)
        return
    if argv[0] == "mutmut":  # from the repository root, where [tool.mutmut] configures it
        assert "[tool.mutmut]" in (ROOT / "pyproject.toml").read_text()
        shown = subprocess.run([str(Path(sys.executable).parent / "mutmut"), *argv[1:]], cwd=ROOT, capture_output=True,
                               text=True, timeout=120)
        assert shown.returncode == 0 and "run" in shown.stdout, shown.stderr[-2000:]
        return
    if argv[0] == "tensorboard":
        logdir = Path(argv[argv.index("--logdir") + 1])
        for kind in ("sentiment", "lm"):  # the test's runs below the log directory
            run = Path(f"outputs/{kind}/runs/tiny")
            if logdir == run or logdir in run.parents:
                sandbox.run_dir(kind)
        assert "No event files found" not in sandbox.shell(shell_line(argv)).stdout
        return
    if argv[:2] == ["python", "-m"] and not REDIRECTIONS & set(argv):  # an entry point: in this process
        status, out, err = run_in_process(argv[2], argv[3:], sandbox.cwd)
        assert status == 0, f"$ {shlex.join(argv)}\n{out[-3000:]}\n{err[-5000:]}"
        return
    sandbox.shell(shell_line(argv))


BUILT: set[tuple[str, ...]] = set()  # jobs this process has built already


def build_for_training(module: str, arguments: list[str], sandbox: Sandbox) -> None:
    """What one training job trains with, built from its composed config on the sandbox's data: the
    DataModule set up (vocabulary, classes, splits), the LightningModule and the Trainer. The fit itself
    (minutes to hours on the real data) is tested per network and task elsewhere."""
    job = []
    for argument in (a for a in arguments if not a.startswith("seed=")):  # seeds build the same objects
        key, _, value = argument.partition("=")
        if key.startswith(("hydra.", "hydra/")):
            continue  # where and how Hydra runs the job, not what it trains
        if key.lstrip("+").endswith("encoder_ckpt"):  # a stage-1 run the README trains first
            argument = f"{key}={sandbox.run_dir('lm') / 'checkpoints' / 'last.ckpt'}"
        elif key == "data.path" and value != "null":
            sandbox.write_table(value, arguments)
        job.append(argument)
    if (module, *job) in BUILT:
        return
    BUILT.add((module, *job))
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("lm" if module.startswith("lm.") else "train",
                      overrides=[*job, f"paths.output_dir={sandbox.cwd / 'outputs' / 'built'}"])
    GlobalHydra.instance().clear()
    if cfg.data.get("path") is None:  # the Hub's IMDB, or Moby Dick from Project Gutenberg: needs the network
        return
    previous = os.getcwd()
    os.chdir(sandbox.cwd)  # the commands' relative paths (../shared/data/…) start there
    try:
        if module == "rnn_sentiment.train":  # as its main() does before training
            with_encoder_settings(cfg, job)
        datamodule = instantiate_config(cfg.data)
        datamodule.setup("fit")
        network = instantiate_config(cfg.model, **datamodule.network_arguments())
        network.set_preprocessing(datamodule.preprocessing())
        instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    finally:
        os.chdir(previous)


def show_job_config(module: str, arguments: list[str]) -> None:
    """`python -m module *arguments` (which ends in `--cfg job`), in this process: composing takes
    milliseconds, starting Python with torch and Lightning seconds."""
    output = io.StringIO()
    try:
        with patch.object(sys, "argv", [module, *arguments]), redirect_stdout(output), redirect_stderr(output):
            importlib.import_module(module).main()
    except SystemExit as exit:
        assert exit.code in (0, None), f"$ python -m {module} {shlex.join(arguments)}\n{output.getvalue()[-5000:]}"
    finally:  # leave no Hydra state behind for the tests that compose or train in this process
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = None
    assert "_target_" in output.getvalue(), output.getvalue()[-5000:]


def test_ci_runs_exactly_the_readmes_test_command():
    test_commands = [command for _, command in page_commands(ROOT / "README.md")  # the set-up command
                     if any(s and s[0] == "pytest" for s in simple_commands(command)[0])]
    assert len(test_commands) == 1, test_commands
    assert test_commands[0] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_rules_read_placeholders_pipes_and_redirections_and_reject_unknown_forms(tmp_path):
    segments, operators = simple_commands("cat in.txt | rnn-predict ckpt_path=<a run>/last.ckpt file=- > out.csv")
    assert operators == ["|"] and segments[0] == ["cat", "in.txt"]
    assert segments[1] == ["rnn-predict", f"ckpt_path={PLACEHOLDER}/last.ckpt", "file=-", ">", "out.csv"]
    assert strip_comment("python -m lm.generate seed_text='# not a comment'  # a comment") == (
        "python -m lm.generate seed_text='# not a comment'  ")
    sandbox = Sandbox(tmp_path)
    assert composed("rnn_sentiment.train", ["-m", "model=elman,lstm", "seed=1"]) == [
        ["python", "-m", "rnn_sentiment.train", "model=elman", "seed=1", "--cfg", "job"],
        ["python", "-m", "rnn_sentiment.train", "model=lstm", "seed=1", "--cfg", "job"]]
    for unknown in (["mlflow", "ui"], ["python", "-m", "some_other_module"], ["python", "script.py"]):
        with pytest.raises(pytest.fail.Exception, match="no rule"):
            checked(unknown, sandbox)
    with pytest.raises(pytest.fail.Exception, match="no rule"):
        checked(["python", "-m", "rnn_sentiment.predict", f"text={PLACEHOLDER}"], sandbox)
