"""The output checker: one pass of disclosure rules over everything a run exports.

Each stage that writes a table meant to leave the enclave also writes a
``disclosure_spec.json`` beside it: for every table, the file and JSON path of its published
rows, which columns are counts, which linear relations a reader knows (a total equals the sum
of its parts, a rate times its denominator is its numerator, the same cell in two tables), and
the dominance evidence of magnitude cells. The spec holds no suppressed value.
:func:`check_outputs` reads the *published* files back (what a reader would have), and applies
the rules once:

* **threshold** — a published count in ``1 .. threshold - 1`` (``quality.min_cell``, 11 by
  default) is unsafe;
* **consistency** — a cell published in one table and suppressed, or published with another
  value, in another table is unsafe (the suppression is undone);
* **differencing, within and across tables** — every relation becomes a linear equation over
  the cells (``total - sum(parts) = 0``, ``numerator - rate * denominator = 0`` for rates and
  means of 0/1 variables). Published cells are constants; the others are unknowns. An unknown
  is *recomputable* when the equations fix it (its unit vector lies in the row space of the
  system: checked with one singular value decomposition per connected group of cells). A
  recomputable suppressed cell is unsafe; a recomputable unpublished quantity that is not a
  cell of any table (a bin between two thresholds, the people an estimate left out of an arm)
  is unsafe when its value is a small count;
* **limits** — the audit finds values a reader can recompute *exactly* (the linear system
  over the reals); it does not bound intervals (a suppressed cell known to lie between 2 and
  5 is not flagged) nor use that counts are non-negative integers;
* **dominance** (magnitude tables: means, sums) — a published magnitude needs at least
  ``threshold`` contributors and its largest contributor at most 85 % of the total (the
  (1, 85 %) rule, acro's ``safe_nk_n`` / ``safe_nk_k``); acro's p-ratio (p = 10 %) is reported
  for the checkers' review.

A table marked ``enclave_only`` is checked and reported, but does not fail the run. Any other
unsafe cell raises :class:`~appariement.errors.DisclosureError` (exit 6) after the summary
(``output_check.json`` in acro's ``results.json`` layout, and ``output_check.md``) is written
for the enclave's output checkers.

Why not acro itself: acro 1.0.2 pins ``pandas<=2.3.3`` (this project runs pandas 3) and needs
matplotlib, rdflib, lxml, openpyxl, PyYAML and tabulate at import time; it also checks tables
it computes from microdata, whereas our tables are computed by DuckDB. Its rules (threshold,
(n, k)-dominance, p-ratio) and its summary format are followed here; differencing across
tables, which acro leaves to a manual review, is done by the linear audit above.

Examples:
    >>> spec = TableSpec(name="t", file="t.json", path=["rows"], key=["g"],
    ...                  counts=["n", "k", "m"], row_groups=[("n", ["k", "m"])])
    >>> rows = [{"g": "a", "n": 40, "k": 35, "m": None}]
    >>> result = audit([(spec, rows)], threshold=11)
    >>> [(c.cell, c.rule) for c in result.unsafe]
    [('t|g=a|m', 'differencing')]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .._atomic import write_json, write_text
from .._log import get_logger
from .._threads import single_blas_thread
from ..errors import DisclosureError
from .disclosure import DEFAULT_THRESHOLD

__all__ = ["TableSpec", "Relation", "Finding", "AuditResult", "audit", "write_spec",
           "check_outputs", "check_run", "EXPORTABLE", "MANIFEST_EXPORT", "SPEC_FILE", "SUMMARY_JSON", "SUMMARY_MD", "DOMINANCE_K",
           "PRATIO_P"]

_log = get_logger(__name__)

#: sidecar written by each exporting stage
SPEC_FILE = "disclosure_spec.json"
#: output-checking summary (acro ``results.json`` layout) and its markdown twin
SUMMARY_JSON = "output_check.json"
SUMMARY_MD = "output_check.md"
#: (1, k) dominance: the largest contributor may hold at most this share of a magnitude cell
DOMINANCE_K = 0.85
#: p-ratio (acro ``safe_pratio_p``): reported for review, not a failure
PRATIO_P = 0.10
_TOL = 1e-6


@dataclass
class TableSpec:
    """What a reader knows about one published table.

    Args:
        name: unique table name (``report/subgroups/sex``).
        file: exported file holding the rows, relative to the outputs folder.
        path: keys leading to the list of rows inside the JSON file.
        key: columns that identify a row (used in cell names).
        counts: count columns (individuals).
        row_groups: ``(total column, [part columns])`` summing within a row.
        column_totals: count column -> cell name of its known total (the column sums to it).
        rates: rate column -> ``(numerator, denominator)``, each a count column of the row or
            ``"@cell name"`` (a mean of a 0/1 variable is a rate).
        cell_names: count column -> template naming the cell across tables, formatted with
            the row (``"links|method={method}|decision={decision}"``); default
            ``"<name>|<key>=<value>|<column>"``.
        magnitude: magnitude column -> list, one per row, of ``{"n", "top_share", "p_ratio"}``
            dominance evidence (None where the cell is not published).
        enclave_only: checked and reported, but never fails the export.
        exportable_files: every file this table is printed in (HTML included).
    """

    name: str
    file: str
    path: list = field(default_factory=list)
    key: list = field(default_factory=list)
    counts: list = field(default_factory=list)
    row_groups: list = field(default_factory=list)
    column_totals: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)
    cell_names: dict = field(default_factory=dict)
    magnitude: dict = field(default_factory=dict)
    enclave_only: bool = False
    exportable_files: list = field(default_factory=list)

    def cell(self, row: dict, col: str) -> str:
        tmpl = self.cell_names.get(col)
        if tmpl:
            return tmpl.format(**{k: _fmt_key(v) for k, v in row.items()})
        where = ",".join(f"{k}={_fmt_key(row.get(k))}" for k in self.key)
        return f"{self.name}|{where}|{col}"


@dataclass
class Relation:
    """A linear relation a reader knows across tables: ``total = sum(parts)``; cells named as in
    :meth:`TableSpec.cell`. A name that is no table's cell is an unpublished quantity."""

    total: str
    parts: list
    why: str = ""


@dataclass
class Finding:
    """One unsafe (or reviewed) cell."""

    table: str
    cell: str
    rule: str
    detail: str
    enclave_only: bool = False


@dataclass
class AuditResult:
    """Everything the checker looked at, and what it found."""

    tables: list = field(default_factory=list)
    n_cells: int = 0
    n_suppressed: int = 0
    suppressed: list = field(default_factory=list)
    unsafe: list = field(default_factory=list)
    review: list = field(default_factory=list)
    relations: int = 0

    @property
    def failing(self) -> list:
        return [f for f in self.unsafe if not f.enclave_only]


def _fmt_key(v) -> str:
    if isinstance(v, float) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _num(v):
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(f) else f


def audit(tables: Sequence[tuple[TableSpec, list[dict]]], relations: Iterable[Relation] = (),
          *, threshold: int = DEFAULT_THRESHOLD) -> AuditResult:
    """Apply every rule to published tables (rows as a reader sees them: None = suppressed).

    Args:
        tables: ``(spec, rows)`` pairs.
        relations: relations across tables.
        threshold: minimum cell size.

    Returns:
        An :class:`AuditResult` (``unsafe`` lists the findings).
    """
    res = AuditResult()
    owner: dict[str, TableSpec] = {}
    values: dict[str, float | None] = {}
    equations: list[tuple[dict[str, float], str]] = []

    def add_cell(spec: TableSpec, name: str, value):
        res.n_cells += 1
        v = _num(value)
        if name in values:  # the same cell in two tables: consistent suppression
            prev = values[name]
            if (prev is None) != (v is None) or (v is not None and abs(prev - v) > _TOL):
                res.unsafe.append(Finding(spec.name, name, "consistency",
                                          f"published differently in {owner[name].name} and "
                                          f"{spec.name}", spec.enclave_only
                                          and owner[name].enclave_only))
                if v is not None:
                    values[name] = v
            return
        owner[name] = spec
        values[name] = v
        if v is None:
            res.n_suppressed += 1
            res.suppressed.append({"table": spec.name, "cell": name})
        elif 0 < v < threshold:
            res.unsafe.append(Finding(spec.name, name, "threshold",
                                      f"a published count below {threshold}",
                                      spec.enclave_only))

    for spec, rows in tables:
        res.tables.append(spec.name)
        for row in rows:
            for col in spec.counts:
                add_cell(spec, spec.cell(row, col), row.get(col))
            for total, parts in spec.row_groups:
                eq = {spec.cell(row, p): 1.0 for p in parts}
                if total:
                    eq[spec.cell(row, total)] = eq.get(spec.cell(row, total), 0.0) - 1.0
                equations.append((eq, f"{spec.name}: {total} = {' + '.join(parts)}"))
            for rate, (num, den) in spec.rates.items():
                r = _num(row.get(rate))
                if r is None:
                    continue
                n_name = (num[1:].format(**{k: _fmt_key(v) for k, v in row.items()})
                          if num.startswith("@") else spec.cell(row, num))
                d_name = (den[1:].format(**{k: _fmt_key(v) for k, v in row.items()})
                          if den.startswith("@") else spec.cell(row, den))
                equations.append(({n_name: 1.0, d_name: -r}, f"{spec.name}: {rate} x {den}"))
        for col, total in spec.column_totals.items():
            eq = {spec.cell(row, col): 1.0 for row in rows}
            eq[total] = eq.get(total, 0.0) - 1.0
            equations.append((eq, f"{spec.name}: column {col} sums to {total}"))
        for col, evidence in spec.magnitude.items():
            for row, ev in zip(rows, evidence):
                if ev is None or _num(row.get(col)) is None:
                    continue
                name = spec.cell(row, col)
                if ev.get("n", 0) < threshold:
                    res.unsafe.append(Finding(spec.name, name, "dominance",
                                              f"fewer than {threshold} contributors",
                                              spec.enclave_only))
                elif ev.get("top_share", 0.0) > DOMINANCE_K:
                    res.unsafe.append(Finding(spec.name, name, "dominance",
                                              f"largest contributor above "
                                              f"{DOMINANCE_K:.0%} of the cell",
                                              spec.enclave_only))
                elif ev.get("p_ratio") is not None and ev["p_ratio"] < PRATIO_P:
                    res.review.append(Finding(spec.name, name, "p-ratio",
                                              f"p-ratio below {PRATIO_P:.0%} (review)",
                                              spec.enclave_only))
    for rel in relations:
        eq = {p: 1.0 for p in rel.parts}
        eq[rel.total] = eq.get(rel.total, 0.0) - 1.0
        equations.append((eq, rel.why or f"{rel.total} = {' + '.join(rel.parts)}"))
    res.relations = len(equations)
    with single_blas_thread():  # many small systems: BLAS threads only thrash
        recomputable = _recomputable(equations, values)
    for name, value in recomputable:
        spec = owner.get(name)
        if spec is not None:  # a suppressed cell of a table
            res.unsafe.append(Finding(spec.name, name, "differencing",
                                      "a suppressed cell is recomputable from published cells",
                                      spec.enclave_only))
        elif abs(value - round(value)) < 1e-6 and 0 < round(value) < threshold:
            tabs = sorted({owner[c].name for eq, _ in equations if name in eq
                           for c in eq if c in owner})
            res.unsafe.append(Finding(",".join(tabs), name, "differencing",
                                      f"an unpublished count below {threshold} is the "
                                      "difference of published cells",
                                      all(owner[c].enclave_only for eq, _ in equations
                                          if name in eq for c in eq if c in owner)))
    return res


def _recomputable(equations: list[tuple[dict[str, float], str]],
                  values: dict[str, float | None]) -> list[tuple[str, float]]:
    """Unknowns (unpublished names) fixed by the equations, with their value."""
    # unknowns of each equation; group equations that share unknowns (connected components)
    parent: dict[str, str] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    eqs = []
    for eq, _ in equations:
        unknown = [n for n, c in eq.items() if abs(c) > 0 and values.get(n) is None]
        if not unknown:
            continue
        const = -sum(c * values[n] for n, c in eq.items() if values.get(n) is not None)
        eqs.append((unknown, {n: eq[n] for n in unknown}, const))
        for n in unknown[1:]:
            parent[find(n)] = find(unknown[0])
        find(unknown[0])
    groups: dict[str, list] = {}
    for item in eqs:
        groups.setdefault(find(item[0][0]), []).append(item)
    out = []
    for items in groups.values():
        names = sorted({n for u, _, _ in items for n in u})
        index = {n: j for j, n in enumerate(names)}
        a = np.zeros((len(items), len(names)))
        b = np.zeros(len(items))
        for i, (_, coefs, const) in enumerate(items):
            for n, c in coefs.items():
                a[i, index[n]] = c
            b[i] = const
        _, s, vt = np.linalg.svd(a, full_matrices=True)
        rank = int((s > 1e-9 * max(1.0, s.max() if len(s) else 1.0)).sum())
        null = vt[rank:]  # basis of the null space
        x = np.linalg.lstsq(a, b, rcond=None)[0]
        for n, j in index.items():
            if null.shape[0] == 0 or np.abs(null[:, j]).max() < 1e-8:
                out.append((n, float(x[j])))
    return out


# ------------------------------------------------------------------------- specs and files

def write_spec(folder: str | Path, tables: Sequence[TableSpec],
               relations: Sequence[Relation] = (), *, threshold: int) -> Path:
    """Write a stage's ``disclosure_spec.json`` (no suppressed value in it)."""
    return write_json(Path(folder) / SPEC_FILE, {
        "threshold": int(threshold), "tables": [asdict(t) for t in tables],
        "relations": [asdict(r) for r in relations]})


def _rows_at(data, path):
    for step in path:
        data = data[step]
    return list(data)


def check_outputs(out_dir: str | Path, *, threshold: int | None = None,
                  extra: Sequence[tuple[TableSpec, list[dict]]] = ()) -> AuditResult:
    """Check every exported table of a run, write the summary, fail on an unsafe cell.

    Reads ``<stage>/disclosure_spec.json`` of every stage folder of ``out_dir`` (or
    ``out_dir/disclosure_spec.json``, for a command's output folder), loads the rows
    each spec names from the exported files, audits them together (relations across stages
    included) and writes ``output_check.json`` / ``output_check.md`` in ``out_dir``.

    Args:
        out_dir: the run's outputs folder.
        threshold: minimum cell size (None: the largest threshold recorded by the specs).
        extra: more ``(spec, rows)`` (e.g. the exported manifest's counts).

    Raises:
        DisclosureError: an exportable table holds an unsafe cell (names only, no value).
    """
    out = Path(out_dir)
    tables: list[tuple[TableSpec, list[dict]]] = list(extra)
    relations: list[Relation] = []
    thresholds = []
    cache: dict[Path, Any] = {}
    # a run: one spec per stage folder; a command: the spec in the folder it wrote. Files are
    # named relative to the folder above the spec's.
    for spec_file in sorted([*out.glob(SPEC_FILE), *out.glob(f"*/{SPEC_FILE}")]):
        data = json.loads(spec_file.read_text(encoding="utf-8"))
        thresholds.append(int(data.get("threshold", DEFAULT_THRESHOLD)))
        for t in data["tables"]:
            spec = TableSpec(**{**t, "row_groups": [tuple(g) for g in t["row_groups"]],
                                "rates": {k: tuple(v) for k, v in t["rates"].items()}})
            path = spec_file.parent.parent / spec.file
            if path not in cache:
                cache[path] = json.loads(path.read_text(encoding="utf-8"))
            tables.append((spec, _rows_at(cache[path], spec.path)))
        relations += [Relation(**r) for r in data.get("relations", [])]
    if threshold is None:
        threshold = max(thresholds) if thresholds else DEFAULT_THRESHOLD
    covered = {f for spec, _ in tables for f in [spec.file, *spec.exportable_files]}
    unchecked = [f for f in _TABLE_FILES if (out / f).exists() and f not in covered]
    if unchecked:  # e.g. a stage written before the checker existed, skipped as up to date
        raise DisclosureError(
            f"output check: {', '.join(unchecked)} has no disclosure_spec.json, so its tables "
            "cannot be checked; re-run its stage (appariement run --restart, or --stage "
            "report / counterfactual) before exporting it")
    result = audit(tables, relations, threshold=threshold)
    _write_summary(out, result, tables, threshold)
    if result.failing:
        names = sorted({f"{f.table} ({f.rule})" for f in result.failing})
        raise DisclosureError(
            f"output check: {len(result.failing)} unsafe cell(s) in exported tables: "
            f"{'; '.join(names[:10])}{' ...' if len(names) > 10 else ''}. Nothing may leave "
            f"the enclave until they are suppressed; see {out / SUMMARY_MD}")
    _log.info("output check: %d tables, %d cells (%d suppressed), %d relations: safe",
              len(result.tables), result.n_cells, result.n_suppressed, result.relations)
    return result


#: the exported copy of the run manifest (no counts)
MANIFEST_EXPORT = "manifest.export.json"
#: files a run produces that may leave the enclave (relative to the outputs folder)
EXPORTABLE = ("report/report.html", "report/report.json", "counterfactual/counterfactual.json",
              "counterfactual/counterfactual.html", "counterfactual/codebook.json",
              "counterfactual/codebook.md", MANIFEST_EXPORT, SUMMARY_JSON, SUMMARY_MD)


#: exportable files that hold tables (the others hold none: codebook, summaries)
_TABLE_FILES = ("report/report.json", "report/report.html",
                "counterfactual/counterfactual.json", "counterfactual/counterfactual.html")


def check_run(out_dir: str | Path, manifest, *, threshold: int) -> AuditResult:
    """End of a run: write the manifest's exported copy, then :func:`check_outputs` over every
    exported table (its counts included: the copy holds none, which the check confirms)."""
    out = Path(out_dir)
    manifest.write_export(out / MANIFEST_EXPORT)
    exported = json.loads((out / MANIFEST_EXPORT).read_text(encoding="utf-8"))
    rows = [{"what": k, "n": v} for k, v in _flat_counts(exported.get("counts", {}))]
    spec = TableSpec("manifest/counts", MANIFEST_EXPORT, [], ["what"], ["n"],
                     exportable_files=[MANIFEST_EXPORT])
    return check_outputs(out, threshold=threshold, extra=[(spec, rows)])


def _flat_counts(counts: dict, prefix: str = ""):
    for k, v in counts.items():
        if isinstance(v, dict):
            yield from _flat_counts(v, f"{prefix}{k}.")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            yield f"{prefix}{k}", v


def _write_summary(out: Path, result: AuditResult, tables, threshold: int) -> None:
    by_table: dict[str, list[Finding]] = {}
    for f in result.unsafe + result.review:
        for name in f.table.split(","):
            by_table.setdefault(name, []).append(f)
    suppressed: dict[str, int] = {}
    for s in result.suppressed:
        suppressed[s["table"]] = suppressed.get(s["table"], 0) + 1
    stamp = None  # no clock: two runs of the same inputs write the same summary
    results = {}
    for i, (spec, rows) in enumerate(tables):
        found = by_table.get(spec.name, [])
        fails = [f for f in found if f.rule != "p-ratio"]
        status = "fail" if fails else ("review" if found else "pass")
        results[spec.name] = {
            "uid": f"output_{i}", "status": status,
            "type": "magnitude table" if spec.magnitude else "frequency table",
            "properties": {"rows": len(rows), "counts": spec.counts,
                           "enclave_only": spec.enclave_only},
            "files": [{"name": f, "sdc": {"summary": {
                "threshold": sum(1 for x in fails if x.rule == "threshold"),
                "dominance": sum(1 for x in fails if x.rule == "dominance"),
                "differencing": sum(1 for x in fails if x.rule == "differencing"),
                "consistency": sum(1 for x in fails if x.rule == "consistency"),
                "suppressed": suppressed.get(spec.name, 0)},
                "cells": {"unsafe": [x.cell for x in fails]}}}
                for f in (spec.exportable_files or [spec.file])],
            "command": "appariement output check",
            "summary": (f"{status}; {suppressed.get(spec.name, 0)} cell(s) suppressed"
                        + "".join(f"; {x.rule}: {x.cell} ({x.detail})" for x in found)),
            "timestamp": stamp, "comments": [], "exception": "",
        }
    rules = {"threshold": threshold, "dominance_k": DOMINANCE_K, "pratio_p": PRATIO_P,
             "relations_checked": result.relations, "cells_checked": result.n_cells,
             "cells_suppressed": result.n_suppressed,
             "unsafe": [asdict(f) for f in result.unsafe],
             "review": [asdict(f) for f in result.review]}
    write_json(out / SUMMARY_JSON, {"version": "appariement-output-check/1",
                                     "tool": {"name": "appariement output checker",
                                              "rules_from": "ACRO (SACRO) 1.0.2"},
                                     "rules": rules, "results": results})
    lines = ["# Output check", "",
             f"Minimum cell size {threshold}; dominance: at least {threshold} contributors and "
             f"the largest at most {DOMINANCE_K:.0%}; p-ratio {PRATIO_P:.0%} (review); "
             "differencing within and across tables by a linear audit of "
             f"{result.relations} relations over {result.n_cells} cells "
             f"({result.n_suppressed} suppressed).", "",
             "| table | files | status | suppressed | findings |", "|---|---|---|---|---|"]
    for name, r in results.items():
        files = ", ".join(f["name"] for f in r["files"])
        finds = "; ".join(f"{x.rule}: {x.cell}" for x in by_table.get(name, [])) or "-"
        lines.append(f"| {name} | {files} | {r['status']} | "
                     f"{r['files'][0]['sdc']['summary']['suppressed']} | {finds} |")
    lines += ["", "Files that may leave the enclave: " + ", ".join(
        f for f in EXPORTABLE if (out / f).exists() or f in (SUMMARY_JSON, SUMMARY_MD))
        + ". Everything else (Parquet files, "
        "manifest.json with raw counts, run.log, linkage and input counts, the example pairs "
        "of report/enclave/) stays in the enclave."]
    lines += ["", "Suppressed cells show as empty (null in JSON, a dash in HTML). Tables marked "
              "enclave-only never leave the enclave; they are listed for completeness."]
    write_text(out / SUMMARY_MD, "\n".join(lines) + "\n")
