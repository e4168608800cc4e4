"""The documentation: the site builds in strict mode (a broken link, a page left out of the navigation
or a docstring griffe cannot read fails), the configuration page equals what `conf/` holds, and the
README's links lead somewhere. (Every command of every page runs in `test_readme.py`.)"""

import re
import shutil
import subprocess
import sys

import pytest

from config_page import ENTRY_POINTS, PAGE, page_with_generated_part
from conftest import ROOT


def build_site(config, site):
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, timeout=300, env={"NO_MKDOCS_2_WARNING": "1", "PATH": ""})


def test_the_configuration_page_lists_every_key_of_conf_as_it_is():
    assert sorted(ENTRY_POINTS) == sorted(path.name for path in (ROOT / "conf").glob("*.yaml"))  # every primary config
    assert PAGE.read_text() == page_with_generated_part(), "docs/configuration.md is stale: python tests/config_page.py"


@pytest.mark.slow
def test_the_site_builds_strictly_and_a_broken_link_fails_it(tmp_path):
    built = build_site(ROOT / "mkdocs.yml", tmp_path / "site")
    assert built.returncode == 0, built.stderr
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    assert "SentimentDataModule" in reference and "WordLSTM" in reference  # the API pages came from the docstrings

    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "docs" / "usage.md").write_text((ROOT / "docs" / "usage.md").read_text() + "\n[gone](nowhere.md)\n")
    config = (ROOT / "mkdocs.yml").read_text().replace("paths: [.]", f"paths: [{ROOT}]")
    (tmp_path / "mkdocs.yml").write_text(config)
    broken = build_site(tmp_path / "mkdocs.yml", tmp_path / "broken_site")
    assert broken.returncode != 0 and "nowhere.md" in broken.stderr


def test_every_relative_link_of_the_readme_exists():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", (ROOT / "README.md").read_text())
    relative = [link for link in links if not re.match(r"^[a-z]+://", link)]
    assert relative and all((ROOT / link).exists() for link in relative), [l for l in relative if not (ROOT / l).exists()]
