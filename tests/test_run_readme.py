"""The README's Python example runs as written."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- readme-example -->\s*```python\n(.*?)```", text, re.S)
    assert block, "README lost its <!-- readme-example --> block"
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 20
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script))
    captured = capsys.readouterr()
    out = captured.out
    # Splink's messages are caught and summarised in the log (appariement._splink_log): none of
    # its warnings reaches the reader of the example
    printed = captured.out + captured.err
    for splink_says in ("not observed in dataset", "m_probability", "u_probability",
                        "[EM sampling]", "splink"):
        assert splink_says not in printed, printed[:500]
    share = float(re.search(r"([\d.]+)% of the links are true links", out).group(1))
    assert share > 95
    assert (tmp_path / "out" / "example" / "links.parquet").is_file()
