"""Run manifest: what a run did, with which versions, inputs, keys (fingerprints only) and counts.

The manifest is the audit trail of a batch run in the CASD enclave. It never holds a key or a
NIR: keys appear as their public fingerprint, input files as a SHA-256 of their bytes.
"""

from __future__ import annotations

import hashlib
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ._atomic import write_json

__all__ = ["RunManifest", "file_fingerprint", "package_versions"]

_PACKAGES = ("appariement", "splink", "duckdb", "pyarrow", "pandas", "cryptography", "jellyfish",
             "python-stdnum")


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape results."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def file_fingerprint(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, as ``sha256:<hex>``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


@dataclass
class RunManifest:
    """Collects what a run does, then writes it as JSON.

    Attributes:
        command: the command or entry point that ran.
        config: the (non-secret) configuration used.
        inputs: input name → file fingerprint.
        keys: key purpose → key fingerprint (never key bytes).
        counts: stage → {what: count}.
        timings: step → seconds.
        outputs: output name → relative path.
    """

    command: str
    config: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    def add_input(self, name: str, path: str | Path) -> None:
        self.inputs[name] = file_fingerprint(path)

    def add_inputs_dir(self, prefix: str, folder: str | Path) -> None:
        """Fingerprint every Parquet/CSV file below ``folder``."""
        folder = Path(folder)
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in {".parquet", ".csv"}:
                self.add_input(f"{prefix}/{path.relative_to(folder).as_posix()}", path)

    def count(self, stage: str, **counts: Any) -> None:
        self.counts.setdefault(stage, {}).update(counts)

    def to_dict(self, *, include_volatile: bool = True) -> dict[str, Any]:
        """The manifest as a dict; without ``include_volatile``, no dates or timings
        (what stays identical between two runs with the same inputs)."""
        data = {
            "command": self.command,
            "versions": package_versions(),
            "platform": {"system": platform.system(), "machine": platform.machine(),
                         "python_implementation": sys.implementation.name},
            "config": self.config,
            "seeds": self.seeds,
            "inputs": self.inputs,
            "keys": self.keys,
            "counts": self.counts,
            "outputs": self.outputs,
            "notes": self.notes,
        }
        if include_volatile:
            data["started_at"] = self.started_at
            data["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            data["timings_seconds"] = self.timings
        return data

    def to_export_dict(self) -> dict[str, Any]:
        """The copy of the manifest that may leave the enclave: versions, config hash, input
        and key fingerprints, outputs and notes, but no counts. ``manifest.json`` keeps the raw
        counts (row counts, rejected rows, links by stage: some are small) and stays in the
        enclave; the published counts are those of the disclosure-controlled reports."""
        data = self.to_dict(include_volatile=False)
        data.pop("counts", None)
        data["config"] = {"hash": self.config.get("hash")}
        data["notes"] = list(self.notes) + [
            "raw counts are in manifest.json, which stays in the enclave; published counts "
            "are in the disclosure-controlled reports (see output_check.md)"]
        return data

    def write_export(self, path: str | Path) -> Path:
        """Write :meth:`to_export_dict` atomically as JSON."""
        return write_json(path, self.to_export_dict())

    def write(self, path: str | Path) -> Path:
        """Write the manifest atomically as JSON."""
        return write_json(path, self.to_dict())
