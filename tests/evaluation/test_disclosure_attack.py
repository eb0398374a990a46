"""Attack test: from the files a demo run marks exportable, try to recompute every suppressed
cell from any pair of published tables; and show the attack works on unprotected tables.

The attack is written independently of the output checker: it reads only the exported JSON
and knows what a reader of the report knows (a subgroup's n is linked + unlinked, each
variable's groups partition the candidates, a link rate times n is the number linked, a mean
of a 0/1 covariate times the arm size is a count, cumulative counts at two thresholds differ by
the links between them).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from appariement.errors import DisclosureError
from appariement.evaluation.disclosure import suppress
from appariement.evaluation.output_check import EXPORTABLE, audit, TableSpec

T = 11


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from appariement.pipeline import run_demo
    out = tmp_path_factory.mktemp("attack")
    run_demo(out, n_candidates=700, n_boot=0, progress=False)
    return out / "results"  # the run's outputs folder


def _tables(out: Path) -> dict[str, list[dict]]:
    """Every published table, by name, as rows (None = suppressed)."""
    rep = json.loads((out / "report/report.json").read_text())
    cf = json.loads((out / "counterfactual/counterfactual.json").read_text())
    tabs = {"links": rep["links_by_method_decision"]["rows"],
            "candidates": rep["candidates"]["rows"],
            "curve": rep["threshold_curve"], "label_free": rep["label_free_errors"]["rows"],
            "arms": cf["arms_and_linkage"], "estimates": cf["estimates"],
            "sensitivity": cf["threshold_sensitivity"], "balance": cf["balance"]["main"]}
    for var, t in rep["subgroups"].items():
        tabs[f"subgroup:{var}"] = t["rows"]
    return tabs


def _exact(v) -> bool:
    return v is not None and abs(v - round(v)) < 1e-6


def attack(tabs: dict[str, list[dict]], threshold: int = T) -> list[str]:
    """Suppressed cells (or small hidden counts) recomputed exactly; each finding names how."""
    found = []
    cand = next((r["n"] for r in tabs.get("candidates", [])), None)
    links = {(r["method"], r["decision"]): r["n"] for r in tabs.get("links", [])}
    linked_all = (None if any(links.get((m, "match")) is None
                              for m in ("pivot_exact", "probabilistic")) else
                  sum(links[(m, "match")] for m in ("pivot_exact", "probabilistic")))
    arms = {r["arm"]: r for r in tabs.get("arms", [])}
    # within one table: totals minus parts; rates x n
    for name, rows in tabs.items():
        for r in rows:
            trio = [r.get(c) for c in ("n", "linked", "unlinked")] if "linked" in r else \
                [r.get(c) for c in ("n", "n_linked", "n_unlinked")] if "n_linked" in r else None
            if trio and sum(v is None for v in trio) == 1:
                found.append(f"{name}: total minus parts gives the suppressed cell")
            rate, n = r.get("link_rate"), r.get("n")
            if rate is not None and n is not None and r.get("n_linked") is None:
                found.append(f"{name}: rate x n gives n_linked")
    # pairs of tables
    subgroup_tabs = {k: v for k, v in tabs.items() if k.startswith("subgroup:")}
    for name, rows in subgroup_tabs.items():
        for col, total in (("n", cand), ("n_linked", linked_all),
                           ("n_unlinked", None if cand is None or linked_all is None
                            else cand - linked_all)):
            hidden = [r for r in rows if r.get(col) is None]
            if total is not None and len(hidden) == 1:
                found.append(f"{name} + headline: column {col} total minus parts")
    if cand is not None and linked_all is not None and 0 < cand - linked_all < threshold:
        found.append("headline: candidates minus linked is a small count")
    # cumulative counts: label-free table, curve and headline
    cum = {}
    for name in ("curve", "label_free"):
        for r in tabs.get(name, []):
            if r.get("n_links") is not None:
                cum.setdefault(float(r["threshold"]), r["n_links"])
    values = sorted(cum.items())
    for (_, a), (_, b) in itertools.combinations(values, 2):
        if 0 < abs(a - b) < threshold:
            found.append("curve: difference across thresholds is a small count")
    if links.get(("probabilistic", "match")) is None and cum:
        found.append("curve/label-free: a cumulative count at the match threshold is "
                     "published while the headline suppresses it")
    # counterfactual: arm size vs counts of the estimates, rates x n, means x n
    for name in ("estimates", "sensitivity"):
        for r in tabs.get(name, []):
            if r.get("variant", "main") != "main":
                continue
            for col, arm in (("n_treated", "treated"), ("n_control", "comparison")):
                n = arms.get(arm, {}).get("n")
                if n is not None and r.get(col) is not None and 0 < n - r[col] < threshold:
                    found.append(f"arms + {name}: arm size minus {col}")
    for r in tabs.get("sensitivity", []):
        for col, arm in (("link_rate_treated", "treated"), ("link_rate_comparison",
                                                           "comparison")):
            n = arms.get(arm, {}).get("n")
            if n is not None and r.get(col) is not None:
                linked = r[col] * n
                if _exact(linked) and (0 < round(n - linked) < threshold
                                       or 0 < round(linked) < threshold):
                    found.append(f"arms + sensitivity: {col} x n")
    for r in tabs.get("balance", []):
        for col, arm in (("mean_treated", "treated"), ("mean_control", "comparison")):
            n, m = arms.get(arm, {}).get("n"), r.get(col)
            if n is not None and m is not None and 0 <= m <= 1:
                ones = m * n
                if _exact(ones) and (0 < round(ones) < threshold
                                     or 0 < round(n - ones) < threshold):
                    found.append(f"arms + balance: mean of {r['covariate']} x n")
    return found


def test_run_marks_exportable_files_and_writes_the_summary(demo):
    summary = json.loads((demo / "output_check.json").read_text())
    assert summary["rules"]["threshold"] == T and not summary["rules"]["unsafe"]
    assert {r["status"] for r in summary["results"].values()} <= {"pass", "review"}
    md = (demo / "output_check.md").read_text()
    assert "report/subgroups/sex" in md and "enclave" in md
    exported = json.loads((demo / "manifest.export.json").read_text())
    assert "counts" not in exported
    assert json.loads((demo / "manifest.json").read_text())["counts"]  # raw, enclave-only
    for f in ("report/report.json", "counterfactual/counterfactual.json"):
        assert f in EXPORTABLE and (demo / f).exists()


def test_no_suppressed_cell_is_recomputable_from_published_tables(demo):
    tabs = _tables(demo)
    assert any(r.get("n_unlinked") is None for t in tabs.values() for r in t)  # something hidden
    assert attack(tabs) == []
    # every published count is 0 or at least the threshold
    for name, rows in tabs.items():
        for r in rows:
            for c in ("n", "n_linked", "n_unlinked", "linked", "unlinked", "n_links"):
                v = r.get(c)
                assert v is None or v == 0 or v >= T, (name, c)


def test_the_attack_finds_the_cells_of_unprotected_tables(demo):
    """The pre-fix outputs, rebuilt from the demo's shape: the attack must find each leak."""
    tabs = _tables(demo)
    arms = {r["arm"]: r for r in tabs["arms"]}
    n_t = arms["treated"]["n"]
    leaky = dict(tabs)
    # arms table with the unlinked cell suppressed alone (648 - 640 = 8)
    leaky["arms"] = [{"arm": "treated", "n": n_t, "linked": n_t - 8, "unlinked": None}]
    # an estimate's n_control 8 short of the arm size
    leaky["estimates"] = [{"variant": "main", "n_treated": n_t - 8, "n_control": None}]
    # a balance mean that is one person of the arm
    leaky["balance"] = [{"covariate": "x", "mean_treated": 1 / n_t, "mean_control": None}]
    # a curve whose two thresholds differ by 3 links
    leaky["curve"] = [{"threshold": 0.5, "n_links": 200}, {"threshold": 0.9, "n_links": 197}]
    # a subgroup table with a lone suppressed cell
    first = next(k for k in tabs if k.startswith("subgroup:"))
    rows = [dict(r) for r in tabs[first]]
    rows[0]["n_unlinked"] = None
    rows[0]["n_linked"] = rows[0]["n"]  # published, so the hidden one follows
    leaky[first] = rows
    found = attack(leaky)
    for what in ("arms: total minus parts", "arms + estimates", "arms + balance",
                 "curve: difference", f"{first}: total minus parts"):
        assert any(f.startswith(what) for f in found), what


def test_the_checker_refuses_an_unsafe_export(tmp_path):
    from appariement.evaluation.output_check import check_outputs, write_spec
    (tmp_path / "report").mkdir()
    (tmp_path / "report/t.json").write_text(json.dumps(
        {"rows": [{"g": "a", "n": 40, "k": 32, "m": None},
                  {"g": "b", "n": 5, "k": None, "m": None}]}))
    write_spec(tmp_path / "report", [TableSpec("t", "report/t.json", ["rows"], ["g"],
                                               ["n", "k", "m"], row_groups=[("n", ["k", "m"])])],
               threshold=T)
    with pytest.raises(DisclosureError) as err:
        check_outputs(tmp_path)
    assert err.value.exit_code == 6 and "32" not in str(err.value)
    summary = json.loads((tmp_path / "output_check.json").read_text())
    rules = {(f["cell"], f["rule"]) for f in summary["rules"]["unsafe"]}
    assert ("t|g=b|n", "threshold") in rules and ("t|g=a|m", "differencing") in rules
    # the same table marked enclave-only is reported but does not fail
    write_spec(tmp_path / "report", [TableSpec("t", "report/t.json", ["rows"], ["g"],
                                               ["n", "k", "m"], row_groups=[("n", ["k", "m"])],
                                               enclave_only=True)], threshold=T)
    assert check_outputs(tmp_path).unsafe


def test_an_exported_table_without_its_spec_is_refused(tmp_path):
    from appariement.evaluation.output_check import check_outputs
    (tmp_path / "report").mkdir()
    (tmp_path / "report/report.json").write_text("{}")
    with pytest.raises(DisclosureError, match="no disclosure_spec"):
        check_outputs(tmp_path)


def test_curve_counts_two_thresholds_apart_are_checked():
    """Links at 0.99 and 0.999 differ by 3 even when 0.995 is left out between them."""
    from appariement.evaluation.quality.report import _publishable_cuts, _curve_specs
    import numpy as np
    p = np.r_[np.full(150, 0.9995), [0.992, 0.993, 0.997], np.full(40, 0.7)]
    grid = [0.5, 0.99, 0.995, 0.999]
    head = [{"method": "pivot_exact", "decision": "match", "n": 500.0},
            {"method": "probabilistic", "decision": "match", "n": 153.0},
            {"method": "probabilistic", "decision": "review", "n": 40.0}]
    cand = [{"what": "candidates", "n": 1000.0}]
    specs = [TableSpec("report/candidates", "", [], ["what"], ["n"],
                       cell_names={"n": "report|candidates"}),
             TableSpec("report/links", "", [], ["method", "decision"], ["n"],
                       cell_names={"n": "links|method={method}|decision={decision}"})]
    cs, cr = _curve_specs(grid, 0.9, 0.5)
    safe = _publishable_cuts(p, grid, 0.9, 0.5, [cand, head], specs, [], cs, cr, T)
    counts = sorted(v[0] for v in safe.values())
    assert all(b - a == 0 or b - a >= T for a, b in itertools.combinations(counts, 2))
    assert 0.9 in safe and 0.5 in safe  # the headline's own counts stay


def test_dominance_and_consistency_across_tables():
    mag = TableSpec("m", "f", [], ["g"], [], magnitude={"mean": [{"n": 40, "top_share": 0.9},
                                                                 {"n": 5, "top_share": 0.2},
                                                                 {"n": 40, "top_share": 0.3}]})
    rows = [{"g": "a", "mean": 3.0}, {"g": "b", "mean": 2.0}, {"g": "c", "mean": 1.0}]
    res = audit([(mag, rows)], threshold=T)
    assert sorted(f.cell for f in res.unsafe if f.rule == "dominance") == ["m|g=a|mean",
                                                                          "m|g=b|mean"]
    one = TableSpec("one", "f", [], ["g"], ["n"], cell_names={"n": "cell|{g}"})
    two = TableSpec("two", "f", [], ["g"], ["n"], cell_names={"n": "cell|{g}"})
    res = audit([(one, [{"g": "x", "n": None}]), (two, [{"g": "x", "n": 50}])], threshold=T)
    assert [f.rule for f in res.unsafe] == ["consistency"]


# ------------------------------------------------------------- suppression, inputs varying

@settings(max_examples=120, deadline=None)
@given(st.integers(2, 6), st.integers(2, 4), st.data())
def test_random_tables_publish_no_small_cell_and_no_derivable_cell(n_rows, n_parts, data):
    import numpy as np
    parts = {f"c{j}": data.draw(st.lists(st.integers(0, 60), min_size=n_rows,
                                         max_size=n_rows)) for j in range(n_parts)}
    table = pd.DataFrame(parts)
    table["total"] = table.sum(axis=1)
    cols = ["total", *parts]
    out = suppress(table, cols, T, row_groups=[("total", list(parts))])
    rows = out.records()
    spec = TableSpec("r", "f", [], ["k"], cols, row_groups=[("total", list(parts))],
                     column_totals={c: f"r|all|{c}" for c in cols})
    for i, r in enumerate(rows):
        r["k"] = i
    # the column totals are known to a reader (they are published elsewhere)
    totals = [{"what": c, "n": float(table[c].sum())} for c in cols]
    tspec = TableSpec("tot", "f", [], ["what"], ["n"], cell_names={"n": "r|all|{what}"})
    res = audit([(spec, rows), (tspec, totals)], threshold=T)
    recomputed = [f for f in res.unsafe if f.table == "r" and f.rule == "differencing"]
    unsafe_cols = set(out.unsafe_totals)
    assert all(f.cell.rsplit("|", 1)[1] in unsafe_cols for f in recomputed)
    for r in rows:
        for c in cols:
            assert r[c] is None or r[c] == 0 or r[c] >= T
    assert not recomputed or unsafe_cols
    # as few cells as possible, locally: publishing any complement again makes it unsafe
    values = table[cols].to_numpy(dtype=float)
    mask = out.suppressed[cols].to_numpy().copy()
    primary = (values > 0) & (values < T)
    for cell in zip(*np.nonzero(mask & ~primary)):
        mask[cell] = False
        assert not _safe(mask, values, T)
        mask[cell] = True


def _safe(mask, values, threshold):
    """No line with one hidden cell and no hidden cell fixed by the lines (linear audit)."""
    from appariement.evaluation.disclosure import _determined
    n_rows, n_cols = values.shape
    lines = [[(i, j) for i in range(n_rows)] for j in range(n_cols)]
    signs = [[1.0] * n_rows for _ in range(n_cols)]
    lines += [[(i, j) for j in range(n_cols)] for i in range(n_rows)]  # n = linked + unlinked
    signs += [[-1.0] + [1.0] * (n_cols - 1) for _ in range(n_rows)]
    return not _determined(mask, values, lines, signs)


def test_the_sex_table_pattern_is_the_smallest_safe_one():
    """The demo's sex table (F 790, M 1171, unknown 39 of whom 3 unlinked): every safe pattern
    hides four cells, so one of F / M loses its split; the suppression finds such a pattern
    and no more (exhaustive search over the secondary cells)."""
    import numpy as np
    values = np.array([[790, 758, 32], [1171, 1124, 47], [39, 36, 3]], dtype=float)
    table = pd.DataFrame(values, columns=["n", "n_linked", "n_unlinked"])
    out = suppress(table, ["n", "n_linked", "n_unlinked"],
                   row_groups=[("n", ["n_linked", "n_unlinked"])])
    primary = (values > 0) & (values < T)
    cells = [(i, j) for i in range(3) for j in range(3) if not primary[i, j]]
    best = None
    for k in range(len(cells) + 1):
        for extra in itertools.combinations(cells, k):
            mask = primary.copy()
            for c in extra:
                mask[c] = True
            if _safe(mask, values, T):
                best = k
                break
        if best is not None:
            break
    assert out.n_secondary == best == 3
    assert out.table["n"].notna().all()  # every group's size stays published
