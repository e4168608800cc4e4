"""Every entry point, given random keys of its config with values of the wrong kind (and keys it does
not have), ends in one of three ways: a one-line `error:` and exit status 2, Hydra's own error for an
override it cannot apply (exit status 1 from the command line), or a successful run. Never a
traceback. The entry points run in this process (`main()` with `sys.argv` set, `HYDRA_FULL_ERROR=1`,
so anything else escapes as the exception itself); hypothesis draws the cases from a fixed seed."""

from itertools import count

import pytest
from hydra import compose, initialize_config_dir
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf

from conftest import QUICK, ROOT, compose_config, run_in_process, tiny_imdb
from rnn_sentiment.core.option_types import kind_of
from rnn_sentiment.core.training import train

pytestmark = pytest.mark.slow  # entry points run, and some cases train for a batch

# keys left alone: where runs are written, and what would start processes or wait for other nodes
UNTOUCHED = ("hydra", "paths", "trainer.devices", "trainer.num_nodes", "trainer.strategy", "trainer.plugins",
             "data.num_workers", "data.path", "data.cache_dir", "logger", "callbacks")
EXAMPLES = {"rnn_sentiment.train": 20, "lm.train": 20, "rnn_sentiment.baselines": 20, "lm.baselines": 20}  # 200 cases;
# a case a training accepts trains a batch, one the baselines accept fits them
WRONG = {  # values of each kind but the one named, as a command line writes them
    "number": ["abc", "[1,2]", "{a: 1}", "true", "nan", "inf", "null", "''"],
    "whole": ["abc", "2.5", "[1]", "{a: 1}", "false", "1e309", "null"],
    "bool": ["abc", "2", "0.5", "[true]", "{a: b}", "null", "yes_please"],
    "any": ["abc", "7", "-1", "0", "2.5", "[1,2]", "{a: 1}", "true", "null", "''", "-1e309", "'a b'"],
}


def leaves(cfg: DictConfig) -> list[str]:
    flat = OmegaConf.to_container(cfg, resolve=False)

    def walk(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict) and value:
                yield from walk(value, f"{prefix}{key}.")
            elif key not in ("_target_", "defaults"):
                yield f"{prefix}{key}"

    return sorted(key for key in walk(flat, "") if not key.startswith(UNTOUCHED))


def wrong_values(key: str) -> list[str]:
    kind = kind_of(key)
    types = kind.types if kind else set()
    if types == {bool}:
        return WRONG["bool"]
    if float in types:
        return WRONG["number"]
    if int in types:
        return WRONG["whole"]
    return WRONG["any"]


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """The base command line of every entry point, on tiny data, and the keys its config has."""
    root = tmp_path_factory.mktemp("options")
    imdb = tiny_imdb(root / "imdb", 160, 60)
    text = root / "moby.txt"
    text.write_text("\n".join(["Call me Ishmael. The ship sailed, and the whale swam under the ship!"] * 200))
    classifier = compose_config("train", root / "classifier", [f"data.path={imdb}", *QUICK, "trainer.max_epochs=1",
                                                                 f"paths.cache_dir={root / 'cache'}"])
    train(classifier)
    language_model = compose_config("lm", root / "lm", [f"data.path={text}", "data.seq_len=8", "data.batch_size=8",
                                                        "model.net.embed_dim=8", "model.net.hidden_size=8", *QUICK[:3],
                                                        "trainer.max_epochs=1", "~logger",
                                                        f"paths.cache_dir={root / 'cache'}"])
    train(language_model)
    quick = ["trainer.fast_dev_run=true", "~callbacks.model_summary", "~logger", "trainer.enable_progress_bar=false"]
    base = {
        "rnn_sentiment.train": ("train", [f"data.path={imdb}", "data.max_len=20", *quick]),
        "lm.train": ("lm", [f"data.path={text}", "data.seq_len=8", "model.net.hidden_size=8", *quick]),
        "rnn_sentiment.predict": ("predict", [f"ckpt_path={root / 'classifier' / 'run' / 'checkpoints' / 'last.ckpt'}",
                                              "text=a fine film"]),
        "lm.generate": ("generate", [f"ckpt_path={root / 'lm' / 'run' / 'checkpoints' / 'last.ckpt'}", "n_words=3"]),
        "rnn_sentiment.plot": ("plot", [f"run_dir={root / 'classifier' / 'run'}"]),
        "rnn_sentiment.baselines": ("baselines", [f"data.path={imdb}", "Cs=[0.1]", "betas=[1.0]"]),
        "lm.baselines": ("lm", [f"data.path={text}"]),
    }
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        keys = {module: leaves(compose(name, overrides=arguments)) for module, (name, arguments) in base.items()}
    return root, base, keys


@pytest.mark.parametrize("module", ["rnn_sentiment.train", "lm.train", "rnn_sentiment.predict", "lm.generate",
                                    "rnn_sentiment.plot", "rnn_sentiment.baselines", "lm.baselines"])
def test_wrong_values_and_unknown_keys_end_in_one_line_or_a_run(setting, module):
    root, base, keys = setting
    runs = count()

    @seed(20261206)
    @settings(max_examples=EXAMPLES.get(module, 40), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def case(data):
        if data.draw(st.integers(0, 5), label="unknown key?") == 0:
            key = data.draw(st.sampled_from(["nonexistent", "data.nonexistent", "model.net.nonexistent"]))
            override = data.draw(st.sampled_from([f"{key}=1", f"+{key}=1"]), label="override")
        else:
            key = data.draw(st.sampled_from(keys[module]), label="key")
            override = f"{key}={data.draw(st.sampled_from(wrong_values(key)), label='value')}"
        run_dir = root / "runs" / f"{module}-{next(runs)}"
        # from a folder of its own: a case may name a file (explain=abc)
        status, _, stderr = run_in_process(module, [*base[module][1], override, f"hydra.run.dir={run_dir}"], root / "cwd")
        if status == 1:
            assert stderr.strip(), f"{override}: exit 1 without Hydra's error"
        elif status == 2:
            errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1, f"{override}: {stderr[-3000:]}"
        else:
            assert status == 0, f"{override}: exit {status}\n{stderr[-3000:]}"

    case()
