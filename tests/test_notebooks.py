"""Every notebook in notebooks/ is stored with its executed outputs (a reader sees what happens
without running it) and runs top to bottom again on small synthetic data (nbclient, the
``python3`` kernel of the environment running the tests).

To refresh the stored outputs after changing a notebook or the library::

    PYTHONPATH=. python -m jupyter nbconvert --to notebook --execute --inplace notebooks/*.ipynb
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

#: what an identity looks like in the synthetic data: record ids, NIR (13 digits + key)
_IDENTITY = re.compile(r"\b(C\d{8}|P\d{9}|[12]\d{12}\s?\d{2})\b")


def _text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "".join(str(data.get(k, "")) for k in ("text/plain", "text/html"))


def test_the_five_notebooks_are_there_with_their_outputs():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert sum(1 for c in code if c.get("outputs")) >= len(code) // 2, path.name
        outputs = [o for c in code for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"], path.name
        text = "".join(_text(o) for o in outputs)
        assert not _IDENTITY.search(text), (path.name, _IDENTITY.search(text).group(0))
        # Splink's warnings are summarised, never printed one by one
        assert "not observed in dataset" not in text, path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(_text(o) for o in outputs)
    assert "not observed in dataset" not in text  # Splink's warnings: one summary line
    assert not _IDENTITY.search(text)
