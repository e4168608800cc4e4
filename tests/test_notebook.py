import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

pytestmark = pytest.mark.slow  # runs the whole notebook


def test_notebook_runs_top_to_bottom_on_tiny_data(tmp_path, imdb_dir, moby_file, monkeypatch):
    monkeypatch.setenv("RNN_TUTORIAL_IMDB", str(imdb_dir))
    monkeypatch.setenv("RNN_TUTORIAL_MOBY", str(moby_file))
    monkeypatch.setenv("RNN_TUTORIAL_OUTPUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("RNN_TUTORIAL_TINY", "1")
    notebook = nbformat.read(ROOT / "notebooks" / "rnn_tutorial.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # committed clean
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    text = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    assert "T=0.1:" in text and "T=10.0:" in text
    assert (tmp_path / "outputs" / "conv_lstm" / "metrics.json").exists()
