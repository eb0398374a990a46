"""`make test` sets up the browser the report test needs, or says in one line what to install."""
import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "ensure_chromium.sh"


def _run(tmp_path, uid: str, chromium: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    (bin_dir / "id").chmod(0o755)
    env = {"PATH": str(bin_dir), "CHROMIUM": str(chromium)}  # no apt-get on this PATH
    return subprocess.run([shutil.which("sh"), str(SCRIPT)], env=env, capture_output=True,
                          text=True, timeout=30)


def test_present_browser_is_accepted(tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    proc = _run(tmp_path, "1000", fake)
    assert proc.returncode == 0 and proc.stderr == ""


def test_missing_browser_without_apt_stops_with_one_line(tmp_path):
    proc = _run(tmp_path, "0", tmp_path / "absent")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "apt-get install -y chromium" in lines[0]


def test_ci_runs_exactly_make_test():
    ci = (SCRIPT.parents[1] / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines()
                if line.strip() and not line.lstrip().startswith("#")
                and not line.startswith(("set ", "cd "))]
    assert commands == ["make test"]
    make = (SCRIPT.parents[1] / "Makefile").read_text()
    assert "sh tools/ensure_chromium.sh" in make.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert os.access(SCRIPT, os.R_OK)
