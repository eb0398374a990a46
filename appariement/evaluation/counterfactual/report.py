"""Run the counterfactual evaluation end to end and write its outputs.

The estimand depends on the design's ``later_hires`` and is written beside the estimates
(``counterfactual.json["estimand"]`` and the HTML text): ``"censor"`` (default) is the effect of a
hire within the grace period versus never being hired, ``"keep"`` versus no hire within the grace
period (a later hire's effect is part of the comparison outcome).

:func:`run_counterfactual` builds the evaluation dataset, estimates the effects for every outcome
(default design and the broad comparison variant), re-estimates over a grid of match thresholds
(linkage sensitivity), estimates the first outcome with each refusal class alone as the
comparison arm (``variant = "class=<class>"``: the eligibility class is selected on the
criteria), gathers the estimators' warnings (``counterfactual.json["warnings"]``: ``code``,
``message``, ``scope``; logged and listed on the page), the identifying assumptions in words and
the overlap / weight diagnostics (``counterfactual.json["diagnostics"]``), and writes
``evaluation.parquet``, ``codebook.json`` / ``codebook.md``,
``counterfactual.json`` and a self-contained ``counterfactual.html``. Every count leaving the
function goes through :func:`appariement.evaluation.disclosure.suppress`.

Examples:
    >>> import tempfile, pathlib
    >>> from appariement.synth import SynthConfig, generate
    >>> d = generate(SynthConfig(n_candidates=300, source_ratio=2, seed=4))
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> res = run_counterfactual(d.platform, d.source["periodes_emploi"], d.truth["links"],
    ...                          out, outcomes=("employed_12m",), n_boot=0, thresholds=())
    >>> sorted(p.name for p in out.iterdir())[:2]
    ['codebook.json', 'codebook.md']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..._atomic import atomic_path, write_json, write_text
from ..._log import get_logger
from ..._tables import to_arrow
from ...errors import InputError
from .dataset import (DEFAULT_OUTCOMES, CounterfactualDesign, build_evaluation_dataset,
                      codebook)
from .estimators import ASSUMPTIONS, estimate_effects
from .page import render as render_page

__all__ = ["run_counterfactual", "threshold_sensitivity", "DEFAULT_N_BOOT",
           "SENSITIVITY_THRESHOLDS"]

#: bootstrap replicates of the estimates, and the match thresholds of the sensitivity analysis
DEFAULT_N_BOOT = 200
SENSITIVITY_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99)

_log = get_logger(__name__)


def threshold_sensitivity(con: duckdb.DuckDBPyConnection, platform: Any, employment: Any,
                          links: Any, design: CounterfactualDesign | None = None, *,
                          thresholds: Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.99),
                          outcome: str = "employed_12m", methods: Sequence[str] = ("ipw",),
                          n_boot: int = 0, seed: int = 0) -> pd.DataFrame:
    """Re-build the dataset and re-estimate at each match threshold.

    Args:
        con, platform, employment, links, design: as for
            :func:`~appariement.evaluation.build_evaluation_dataset`.
        thresholds: ``match_probability`` cut-offs (links at or above are kept).
        outcome / methods / n_boot / seed: as for
            :func:`~appariement.evaluation.estimate_effects`.

    Returns:
        One row per (threshold, method): threshold, link rate of each arm, estimate, ci.

    Examples:
        >>> import duckdb
        >>> from appariement.synth import SynthConfig, generate
        >>> d = generate(SynthConfig(n_candidates=300, source_ratio=2, seed=5))
        >>> t = threshold_sensitivity(duckdb.connect(), d.platform,
        ...                           d.source["periodes_emploi"], d.truth["links"],
        ...                           thresholds=(0.5,))
        >>> t["threshold"].tolist()
        [0.5]
    """
    design = design or CounterfactualDesign()
    rows = []
    for threshold in thresholds:
        ds = build_evaluation_dataset(con, platform, employment, links,
                                      design.replace(match_threshold=float(threshold)))
        try:
            est = estimate_effects(ds, outcome, methods, n_boot=n_boot, seed=seed)
        except InputError:  # no link at or above this threshold: nothing to estimate
            _log.warning("match threshold %s keeps no link of the evaluation dataset",
                         threshold)
            rows += [{"threshold": float(threshold), "link_rate_treated": 0.0,
                      "link_rate_comparison": 0.0, "outcome": outcome, "method": m,
                      "estimate": float("nan")} for m in methods]
            continue
        link = est.diagnostics["link_rate_by_arm"]
        for r in est.table.to_dict(orient="records"):
            rows.append({"threshold": float(threshold), "link_rate_treated": link["treated"],
                         "link_rate_comparison": link["comparison"], **r})
    return pd.DataFrame(rows)


def _suppressed(table: pd.DataFrame, counts: list[str], derived: dict | None = None,
                threshold: int = 11, row_groups=()) -> tuple[pd.DataFrame, dict]:
    from ..disclosure import suppress
    out = suppress(table, count_columns=counts, threshold=threshold, derived=derived or {},
                   row_groups=row_groups)
    return out.table, {"rule": out.rule, "unsafe_totals": list(out.unsafe_totals)}


def _small(v, threshold: int) -> bool:
    return v is not None and not pd.isna(v) and 0 < round(float(v)) < threshold


def _hide_close_counts(table: pd.DataFrame, arm_n: dict, threshold: int) -> pd.DataFrame:
    """Hide ``n_treated`` / ``n_control`` when the arm's published size minus it (the people
    an estimate left out: censored, unmatched) is a small count. The estimate stays: it rests
    on at least ``threshold`` people; only the count that gives the difference goes."""
    table = table.copy()
    for col, arm in (("n_treated", "treated"), ("n_control", "comparison")):
        total = arm_n.get(arm)
        if col not in table.columns or total is None:
            continue
        table[col] = [None if (v is None or pd.isna(v) or _small(total - float(v), threshold))
                      else v for v in table[col]]
    return table


def _hide_unmatched(table: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """``n_unmatched`` is the difference of the IPW and matching ``n_treated``: when it is a
    small count (suppressed), the matching ``n_treated`` goes too."""
    table = table.copy()
    if "n_unmatched" not in table.columns:
        return table
    small = [_small(v, threshold) for v in table["n_unmatched"]]
    table["n_treated"] = [None if sm else v for v, sm in zip(table["n_treated"], small)]
    return table


def _pair_unmatched(table: pd.DataFrame) -> pd.DataFrame:
    """The matching ``n_treated`` and ``n_unmatched`` add up to the IPW ``n_treated`` of the
    same variant and outcome: when one of the three is withheld, a second goes too
    (``n_unmatched`` first), or the published two would give it back by a difference."""
    table = table.copy()
    if "n_unmatched" not in table.columns:
        return table
    for _, rows in table.groupby(["variant", "outcome"], sort=False):
        ipw = rows.index[rows["method"] == "ipw"]
        matching = rows.index[rows["method"] == "matching"]
        if len(matching) != 1:
            continue
        m = matching[0]
        cells = [(m, "n_treated"), (m, "n_unmatched")] + [(i, "n_treated") for i in ipw]
        hidden = [c for c in cells if pd.isna(table.at[c])]
        if len(hidden) == 1:
            other = (m, "n_treated") if hidden[0] == (m, "n_unmatched") else (m, "n_unmatched")
            table.at[other] = None
    return table


def _safe_e_values(table: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """An E-value and its estimate give back the treated mean p1 (``RR = p1 / (p1 - ATT)``),
    which times ``n_treated`` is a count of the treated with (or without) the outcome: withhold
    the E-values when that count is small, or when the estimate or ``n_treated`` is withheld."""
    table = table.copy()
    if "e_value" not in table.columns:
        return table
    for i, r in table.iterrows():
        est, n, ev = r.get("estimate"), r.get("n_treated"), r.get("e_value")
        bad = est is None or pd.isna(est) or n is None or pd.isna(n)
        if not bad and ev is not None and pd.notna(ev) and np.isfinite(ev) and ev > 1 \
                and r.get("_binary", True):
            rr = _rr_of_e(float(ev))
            rr = rr if est > 0 else 1.0 / rr
            p1 = rr * float(est) / (rr - 1.0) if rr != 1 else None
            if p1 is not None:
                bad = _small(p1 * float(n), threshold) or _small((1 - p1) * float(n), threshold)
        if bad:
            table.at[i, "e_value"] = None
            table.at[i, "e_value_ci"] = None
    return table.drop(columns=["_binary"], errors="ignore")


def _rr_of_e(e: float) -> float:
    """Invert ``E = RR + sqrt(RR (RR - 1))``: ``RR = E^2 / (2E - 1)``."""
    return e * e / (2 * e - 1)


def _safe_link_rates(table: pd.DataFrame, arm_n: dict, threshold: int) -> pd.DataFrame:
    """A link rate times the arm's published size is the number linked: withhold the rate when
    the linked or the unlinked count it gives is small."""
    table = table.copy()
    for col, arm in (("link_rate_treated", "treated"), ("link_rate_comparison", "comparison")):
        n = arm_n.get(arm)
        if col not in table.columns:
            continue
        out = []
        for r in table[col]:
            if n is None or r is None or pd.isna(r):
                out.append(None)
                continue
            linked = float(r) * n
            out.append(None if _small(linked, threshold) or _small(n - linked, threshold)
                       else float(r))
        table[col] = out
    return table


def _safe_balance(balance: pd.DataFrame, arm_n: dict, evidence: dict, threshold: int
                  ) -> pd.DataFrame:
    """Balance rows: a mean of a 0/1 variable times the arm size is a count (1/254 is one
    person), so a row whose count of ones or of zeros is small in either arm is withheld
    (means and standardised differences: an SMD and one mean give back the other); a mean of
    a magnitude is withheld when it fails dominance (``evidence``: covariate -> arm ->
    ``{"n", "top_share"}``)."""
    from ..output_check import DOMINANCE_K
    out = balance.copy()
    if "imbalanced" in out.columns:
        out["imbalanced"] = out["imbalanced"].astype(object)
    values = [c for c in out.columns if c != "covariate"]
    for i, row in out.iterrows():
        bad = False
        for col, arm in (("mean_treated", "treated"), ("mean_control", "comparison")):
            m, n = row.get(col), arm_n.get(arm)
            if m is None or pd.isna(m) or n is None:
                bad = True
                continue
            ev = evidence.get(row["covariate"], {}).get(arm)
            if ev is not None:  # a magnitude
                bad |= ev["n"] < threshold or ev["top_share"] > DOMINANCE_K
            elif 0 <= float(m) <= 1:  # a proportion
                ones = float(m) * n
                bad |= _small(ones, threshold) or _small(n - ones, threshold)
        if bad:
            for c in values:
                out.at[i, c] = None
    return out


def _dominance(relation, columns, threshold: int) -> dict:
    """Dominance evidence of the magnitude covariates (not 0/1), by arm, from the dataset."""
    evidence: dict = {}
    cols = set(relation.columns)
    for c in columns:
        if c not in cols:
            continue
        rows = relation.aggregate(
            f"arm, count({c}) AS n, sum(abs(CAST({c} AS DOUBLE))) AS total, "
            f"max(abs(CAST({c} AS DOUBLE))) AS top, "
            f"count(*) FILTER (WHERE CAST({c} AS DOUBLE) NOT IN (0, 1)) AS other",
            "arm").fetchall()
        if not any(r[4] for r in rows):
            continue  # a 0/1 variable: checked as a proportion
        evidence[c] = {arm: {"n": int(n), "top_share": (float(top) / float(total)
                                                          if total else 0.0)}
                       for arm, n, total, top, _ in rows}
    return evidence


def run_counterfactual(platform: Any, employment: Any, links: Any, out_dir: str | Path, *,
                       design: CounterfactualDesign | None = None,
                       outcomes: Sequence[str] = DEFAULT_OUTCOMES,
                       n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                       thresholds: Sequence[float] = SENSITIVITY_THRESHOLDS,
                       min_cell: int = 11, con: duckdb.DuckDBPyConnection | None = None,
                       language: str = "fr") -> dict:
    """Build the evaluation dataset, estimate, check sensitivity, write every output.

    Args:
        platform / employment / links: as for
            :func:`~appariement.evaluation.build_evaluation_dataset`.
        out_dir: output folder (created).
        design: the main design (default :class:`CounterfactualDesign`); the broad variant
            (every non-hired person in the comparison arm) is estimated beside it.
        outcomes: outcome columns to estimate.
        n_boot / seed: bootstrap replicates and seed.
        thresholds: match-threshold grid of the linkage sensitivity (empty: skipped; only
            meaningful with probabilistic links).
        min_cell: smallest published count.
        con: DuckDB connection (a new one when None).
        language: ``"fr"`` (default) or ``"en"``: the page's labels and texts.

    Returns:
        The JSON content written to ``counterfactual.json``.
    """
    con = con or duckdb.connect()
    design = design or CounterfactualDesign()
    from ..._paths import private_dir  # folders 0700, as the command line makes them

    out = private_dir(out_dir)
    ds = build_evaluation_dataset(con, platform, employment, links, design)
    with atomic_path(out / "evaluation.parquet") as tmp:
        pq.write_table(to_arrow(ds.relation), tmp)
    book = codebook(design, iae="iae_start" in ds.relation.columns)
    write_json(out / "codebook.json", book)
    write_text(out / "codebook.md", "| column | definition | known at |\n|---|---|---|\n" + "".join(
        f"| {c['column']} | {c['definition']} | {c['time_reference']} |\n" for c in book))
    variants = {"main": (design, ds)}
    if design.comparison_classes is not None:
        broad = design.replace(comparison_classes=None)
        variants["broad"] = (broad, build_evaluation_dataset(con, platform, employment, links,
                                                             broad))
    # estimates by refusal class of the comparison arm, side by side (first outcome): the
    # eligibility class is selected on the criteria, the employer-side one the least
    for klass in _CLASS_VARIANTS:
        if design.comparison_classes == (klass,):
            continue  # the main variant already
        cdesign = design.replace(comparison_classes=(klass,))
        cds = build_evaluation_dataset(con, platform, employment, links, cdesign)
        if cds.counts["by_arm"].get("comparison", 0) >= max(min_cell, 20):
            variants[f"class={klass}"] = (cdesign, cds)
    estimates, balances, arm_sizes, warnings, diagnostics = [], {}, {}, [], []
    for name, (_, vds) in variants.items():
        arm_sizes[name] = {a: v["n"] for a, v in vds.counts["linkage_by_arm"].items()}
        for outcome in (outcomes if not name.startswith("class=") else outcomes[:1]):
            est = estimate_effects(vds, outcome, n_boot=n_boot, seed=seed)
            binary = est.table["method"].map(lambda _: _is_binary(vds, outcome))
            tab = est.table.assign(variant=name, _binary=binary)
            estimates.append(tab)
            warnings += [{**w, "scope": f"variant {name}, {w['scope']}"} for w in est.warnings]
            diagnostics.append(_public_diagnostics(name, est.diagnostics, arm_sizes[name],
                                                   min_cell))
            if outcome == outcomes[0] and not name.startswith("class="):
                evidence = _dominance(vds.relation, est.balance["covariate"].tolist(),
                                      min_cell)
                balances[name] = _safe_balance(est.balance, arm_sizes[name], evidence,
                                               min_cell)
    est_table = pd.concat([_hide_unmatched(_hide_close_counts(
        t, arm_sizes[t["variant"].iloc[0]], min_cell), min_cell) for t in estimates],
        ignore_index=True)
    est_pub, rule = _suppressed(est_table, ["n_treated", "n_unmatched", "n_control"],
                                threshold=min_cell,
                                derived={c: ["n_treated", "n_control"] for c in
                                         ("estimate", "se", "ci_low", "ci_high", "se_ai",
                                          "ci_low_ai", "ci_high_ai", "e_value", "e_value_ci")})
    est_pub = _safe_e_values(_pair_unmatched(est_pub), min_cell)
    warnings = _design_warnings(design) + _merge_warnings(warnings)
    for w in warnings[:len(_design_warnings(design))]:
        _log.warning("counterfactual %s: %s", w["code"], w["message"])
    arms = pd.DataFrame([{"arm": arm, "n": v["n"], "linked": v["linked"],
                          "unlinked": v["n"] - v["linked"]}
                         for arm, v in ds.counts["linkage_by_arm"].items()])
    arms_pub, _ = _suppressed(arms, ["n", "linked", "unlinked"], threshold=min_cell,
                              row_groups=[("n", ["linked", "unlinked"])])
    published_n = {r["arm"]: r["n"] for r in _records(arms_pub) if r["n"] is not None}
    excl = pd.DataFrame([{"reason": k, "n": v} for k, v in ds.counts["exclusions"].items()]
                        or [{"reason": "none", "n": 0}])
    excl_pub, _ = _suppressed(excl, ["n"], threshold=min_cell)
    sens = (threshold_sensitivity(con, platform, employment, links, design,
                                  thresholds=thresholds, outcome=outcomes[0])
            if thresholds else pd.DataFrame())
    if len(sens):
        # the published sensitivity keeps the estimate and its interval (E-values are in the
        # estimates table, where their disclosure check is)
        sens = sens.drop(columns=["estimand", "n_unmatched", "e_value", "e_value_ci"],
                         errors="ignore")
        sens = _safe_link_rates(_hide_close_counts(sens, published_n, min_cell), published_n,
                                min_cell)
        sens, _ = _suppressed(sens, ["n_treated", "n_control"], threshold=min_cell,
                              derived={"estimate": ["n_treated", "n_control"]})
    result = {
        "design": design.to_dict(), "estimand": _ESTIMANDS[design.later_hires],
        "follow_up_end": str(ds.follow_up_end),
        "disclosure": rule, "arms_and_linkage": _records(arms_pub),
        "exclusions": _records(excl_pub), "estimates": _records(est_pub),
        "balance": {k: _records(v) for k, v in balances.items()},
        "threshold_sensitivity": _records(sens) if len(sens) else [],
        "warnings": warnings, "assumptions": list(ASSUMPTIONS),
        "diagnostics": diagnostics,
    }
    write_json(out / "counterfactual.json", result)
    write_text(out / "counterfactual.html", render_page(result, language))
    _write_spec(out, result, min_cell)
    return result


_CLASS_VARIANTS = ("employer_side", "person_side", "eligibility")


def _is_binary(ds, outcome: str) -> bool:
    rows = ds.relation.aggregate(f"count(*) FILTER (WHERE {outcome} IS NOT NULL AND "
                                 f"CAST({outcome} AS DOUBLE) NOT IN (0, 1))").fetchall()
    return rows[0][0] == 0


def _design_warnings(design: CounterfactualDesign) -> list[dict]:
    out = []
    if design.comparison_classes is not None and "eligibility" in design.comparison_classes:
        out.append({"code": "comparison_selected_on_eligibility", "scope": "variant main",
                    "message": "the main comparison arm includes refusals for eligibility, a "
                    "class selected on the eligibility criteria (which also predict "
                    "employment): its estimate is not the effect of a hire on comparable "
                    "people; see the estimates by refusal class"})
    return out


def _merge_warnings(warnings: list[dict]) -> list[dict]:
    """One warning per (code, message), its scopes joined."""
    merged: dict = {}
    for w in warnings:
        key = (w["code"], w["message"])
        if key in merged:
            merged[key]["scope"] += "; " + w["scope"]
        else:
            merged[key] = dict(w)
    return list(merged.values())


def _public_diagnostics(variant: str, diag: dict, arm_n: dict, threshold: int) -> dict:
    """Overlap and weight diagnostics safe to export: quantiles (never a minimum or maximum,
    which is one person's value), shares of people only when the count behind them is not
    small, effective-sample shares (not counts of people)."""
    out = {"variant": variant, "outcome": diag.get("outcome")}
    q = diag.get("propensity_quantiles")
    if q and all(arm_n.get(a, 0) >= 5 * threshold for a in ("treated", "comparison")):
        out["propensity_quantiles"] = q
    off = diag.get("share_treated_off_support")
    n_t = arm_n.get("treated")
    if off is not None and n_t:
        out["share_treated_off_support"] = (None if _small(off * n_t, threshold)
                                            or _small((1 - off) * n_t, threshold)
                                            else round(float(off), 2))
    for key in ("ess_share_control_ipw", "ess_share_control_matched", "max_abs_smd_after",
                "smd_threshold"):
        if key in diag:
            v = diag[key]
            out[key] = ({k: round(x, 3) for k, x in v.items()} if isinstance(v, dict)
                        else round(float(v), 3))
    cw = diag.get("censoring_weights")
    if cw:
        out["censoring_weights"] = {
            "model": cw.get("model"), "stabilised": cw.get("stabilised"),
            "truncation_quantile": cw.get("truncation_quantile"),
            "share_truncated": round(float(cw.get("share_truncated", 0.0)), 3),
            "ess_share": (None if cw.get("ess_share") is None
                          else round(float(cw["ess_share"]), 3))}
    return out


def _write_spec(out: Path, result: dict, threshold: int) -> None:
    """The output checker's view of ``counterfactual.json`` (and the HTML built from it)."""
    from ..output_check import Relation, TableSpec, write_spec
    folder = out.name.lstrip(".").removesuffix(".partial")  # the stage folder, once committed
    files = [f"{folder}/counterfactual.json", f"{folder}/counterfactual.html"]
    arm = "cf|arm={arm}|{col}"
    specs = [TableSpec("counterfactual/arms", f"{folder}/counterfactual.json",
                       ["arms_and_linkage"], ["arm"], ["n", "linked", "unlinked"],
                       row_groups=[("n", ["linked", "unlinked"])],
                       column_totals={c: f"cf|arms|{c}" for c in ("n", "linked", "unlinked")},
                       cell_names={c: arm.replace("{col}", c)
                                   for c in ("n", "linked", "unlinked")},
                       exportable_files=files),
             TableSpec("counterfactual/exclusions", f"{folder}/counterfactual.json",
                       ["exclusions"], ["reason"], ["n"], exportable_files=files),
             TableSpec("counterfactual/estimates", f"{folder}/counterfactual.json",
                       ["estimates"], ["variant", "outcome", "method"],
                       ["n_treated", "n_unmatched", "n_control"], exportable_files=files),
             TableSpec("counterfactual/threshold_sensitivity", f"{folder}/counterfactual.json",
                       ["threshold_sensitivity"], ["threshold", "outcome", "method"],
                       ["n_treated", "n_control"],
                       rates={"link_rate_treated": ("@cf|sens|t={threshold}|linked_treated",
                                                    "@cf|arm=treated|n"),
                              "link_rate_comparison": (
                                  "@cf|sens|t={threshold}|linked_comparison",
                                  "@cf|arm=comparison|n")},
                       exportable_files=files)]
    relations = []
    for r in result["estimates"]:
        if r.get("variant") != "main":
            continue
        key = f"variant={r['variant']},outcome={r['outcome']},method={r['method']}"
        for col, a in (("n_treated", "treated"), ("n_control", "comparison")):
            relations.append(Relation(f"cf|arm={a}|n",
                                      [f"counterfactual/estimates|{key}|{col}",
                                       f"cf|left_out|{key}|{col}"],
                                      "arm size = people in the estimate + people left out"))
    by_key = {(r.get("variant"), r.get("outcome"), r.get("method")): r
              for r in result["estimates"]}
    for (variant, outcome, method), r in by_key.items():
        if method != "matching" or (variant, outcome, "ipw") not in by_key:
            continue
        k_ipw = f"variant={variant},outcome={outcome},method=ipw"
        k_m = f"variant={variant},outcome={outcome},method=matching"
        relations.append(Relation(f"counterfactual/estimates|{k_ipw}|n_treated",
                                  [f"counterfactual/estimates|{k_m}|n_treated",
                                   f"counterfactual/estimates|{k_m}|n_unmatched"],
                                  "treated in the IPW estimate = matched + unmatched"))
    for t in sorted({r["threshold"] for r in result["threshold_sensitivity"]}):
        for a in ("treated", "comparison"):
            relations.append(Relation(f"cf|arm={a}|n", [f"cf|sens|t={t}|linked_{a}",
                                                         f"cf|sens|t={t}|unlinked_{a}"],
                                      "arm size = linked + unlinked at a threshold"))
    for name, rows in result["balance"].items():
        if name != "main":
            continue
        specs.append(TableSpec(f"counterfactual/balance/{name}", f"{folder}/counterfactual.json",
                               ["balance", name], ["covariate"], [],
                               rates={"mean_treated": ("@cf|balance|{covariate}|ones_treated",
                                                       "@cf|arm=treated|n"),
                                      "mean_control": ("@cf|balance|{covariate}|ones_control",
                                                       "@cf|arm=comparison|n")},
                               exportable_files=files))
        for r in rows:
            for a, side in (("treated", "treated"), ("comparison", "control")):
                relations.append(Relation(f"cf|arm={a}|n",
                                          [f"cf|balance|{r['covariate']}|ones_{side}",
                                           f"cf|balance|{r['covariate']}|zeros_{side}"],
                                          "a mean of a 0/1 variable times the arm size"))
    write_spec(out, specs, relations, threshold=threshold)


_ESTIMANDS = {
    "censor": ("ATT of a hire within the grace period versus never being hired: comparison "
               "people hired after the grace period are followed until their hire (outcome at a "
               "horizon used only when the hire came after it) and the others are re-weighted "
               "by the inverse probability of not being censored (IPCW)."),
    "keep": ("ATT of a hire within the grace period versus no hire within it: comparison people "
             "hired later keep their outcome, so the effect of their own later hire is part of "
             "the comparison (a 'hire now or let wait' contrast, smaller than the effect "
             "versus never hired)."),
    "exclude": ("ATT of a hire within the grace period versus comparison people not hired "
                "during the follow-up (later hires dropped: the arm is selected on the future; "
                "a sensitivity analysis only)."),
}


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records", date_format="iso"))
