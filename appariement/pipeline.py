"""The end-to-end pipeline, as plain functions the CLI, the batch runner and notebooks share.

Stages: synthetic data (demo only) → read and check the inputs (data contract) → standardise
identities → link (exact key, then probabilistic) → outputs and a run manifest. Later stages
(pivot, quality report, counterfactual) plug into :func:`run_demo` as they land.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ._log import get_logger, step
from .manifest import RunManifest

__all__ = ["Inputs", "load_inputs", "standardise_both", "link_stage", "run_demo"]

log = get_logger(__name__)


@dataclass
class Inputs:
    """Input tables loaded on one DuckDB connection (``in_<table>`` tables)."""

    con: duckdb.DuckDBPyConnection
    tables: dict[str, duckdb.DuckDBPyRelation]
    counts: dict[str, Any]


def load_inputs(con: duckdb.DuckDBPyConnection, platform, source, *, mapping=None,
                rejects: str = "raise", rejects_dir: str | Path | None = None,
                as_of=None) -> Inputs:
    """Read and check the platform extract and the source (folders, files or frames).

    Args:
        platform: a folder (``<dir>/<table>.parquet|csv`` or ``<dir>/platform/...``) or
            ``{table: path_or_frame}``.
        source: the same for the source tables.
        mapping: ``{table: {user_column: canonical_column}}``.
        rejects: ``"raise"`` (default) or ``"set_aside"``.
    """
    from .io import load_tables

    tables: dict[str, duckdb.DuckDBPyRelation] = {}
    counts: dict[str, Any] = {}
    sides = (("platform", platform), ("source", source))
    merged: dict[str, Any] = {}
    for side, src in sides:
        if isinstance(src, dict):
            merged.update(src)
        else:
            from .io import find_table_files
            merged.update(find_table_files(src, side=side))
    ds = load_tables(con, merged, mapping=mapping, rejects=rejects, rejects_dir=rejects_dir,
                     as_of=as_of)
    tables.update(ds.tables)
    counts.update(ds.counts)
    return Inputs(con, tables, counts)


def standardise_both(con: duckdb.DuckDBPyConnection, candidats, personnes
                     ) -> tuple[duckdb.DuckDBPyRelation, duckdb.DuckDBPyRelation]:
    """Standardised identity features of both sides, materialised as tables ``features_platform``
    and ``features_source``."""
    from .identity import standardise_identities

    standardise_identities(con, candidats, "platform").to_table("features_platform")
    standardise_identities(con, personnes, "source").to_table("features_source")
    return con.table("features_platform"), con.table("features_source")


def link_stage(con, platform_features, source_features, out_dir: str | Path, *, config=None,
               model=None, manifest: RunManifest | None = None):
    """Run the cascade and write its outputs to ``out_dir``."""
    from .linkage import Linkage, LinkageConfig

    config = config or LinkageConfig()
    result = Linkage(config, con=con, model=model).run(platform_features, source_features)
    written = result.write(out_dir)
    if manifest is not None:
        manifest.count("link", **result.counts)
        manifest.timings.update({f"link: {k}": v for k, v in result.timings.items()})
        manifest.outputs.update({f"link/{k}": v for k, v in written.items()})
        manifest.config["linkage"] = config.to_dict()
    return result


def run_demo(out_dir: str | Path, *, n_candidates: int = 2000, seed: int = 42) -> RunManifest:
    """Run every stage on bundled synthetic data and write a manifest.

    Args:
        out_dir: output folder (``data/``, ``link/``, ``manifest.json``...).
        n_candidates: size of the synthetic platform extract (the source is 10× larger).
        seed: seed of the generator.

    Returns:
        The :class:`RunManifest` (also written to ``out_dir/manifest.json``).
    """
    from .synth import write_synthetic

    out = Path(out_dir)
    manifest = RunManifest(command="demo", config={"n_candidates": n_candidates, "seed": seed})
    manifest.seeds["synth"] = seed
    con = duckdb.connect()
    with step(log, "synthetic data", manifest.timings):
        write_synthetic(out / "data", n_candidates=n_candidates, seed=seed)
    manifest.add_inputs_dir("data", out / "data" / "platform")
    manifest.add_inputs_dir("data", out / "data" / "source")
    with step(log, "reading and checking the inputs", manifest.timings):
        inputs = load_inputs(con, out / "data" / "platform", out / "data" / "source",
                             rejects="set_aside", rejects_dir=out / "rejects", as_of="2026-01-01")
    manifest.count("inputs", **{t: c for t, c in inputs.counts.items()})
    with step(log, "standardising identities", manifest.timings):
        pf, sf = standardise_both(con, inputs.tables["candidats"], inputs.tables["personnes"])
    manifest.count("standardise", platform=pf.count("*").fetchall()[0][0],
                   source=sf.count("*").fetchall()[0][0])
    with step(log, "linkage", manifest.timings):
        link_stage(con, pf, sf, out / "link", manifest=manifest)
    manifest.write(out / "manifest.json")
    manifest.outputs["manifest"] = str(out / "manifest.json")
    return manifest
