"""The evaluation dataset: non-retained candidates as the comparison group of IAE hires.

One row per *trial*: a person at their time zero (``unit="person"``: first candidature in the
study window) or a person-month of application (``unit="person_month"``: sequential trials, one
per month in which the person applies and has not been hired before). Everything used as a
covariate is known at time zero; outcomes come from the linked employment source.

Treatment and the immortal-time trap:

* **treated** = hired (candidature ``accepted`` with a ``date_embauche``) within
  ``grace_days`` after time zero. The arm is fixed at ``t0 + grace_days``, before any outcome
  horizon, so nobody is classified with information from their own future.
* **comparison** = not hired within the grace period. People hired *later* are never counted
  as untreated for their whole follow-up (that would credit the comparison arm with the effect
  of their own later hire). :attr:`CounterfactualDesign.later_hires` says how they are handled,
  and so which effect is estimated:

  - ``"censor"`` (default): followed until their hire: the outcome at horizon h is used only if
    the hire came after ``t0 + h``, and the estimators re-weight the comparison people still
    followed by the inverse probability of not being censored (IPCW). Estimand: **hired within
    the grace period versus never hired** (synthetic truth: ``effect.json["att_vs_never"]``).
  - ``"keep"``: their outcome counts whatever happened after the grace period. Estimand:
    **hired within the grace period versus not hired within it** (a later hire and its effect
    are part of the comparison outcome; synthetic truth: ``effect.json["att"]``). A policy
    contrast ("hire now or let the person wait"), not the effect of an IAE hire itself.
  - ``"exclude"``: dropped from the comparison arm (counted); the arm is then selected on the
    future (people who were never hired later), use for sensitivity only.

  Defining treatment as "ever hired" instead (column ``ever_hired``) is the classic
  immortal-time bias and is never used by the estimators.

Refusal reasons are grouped into classes (:data:`DEFAULT_REFUSAL_CLASSES`, both code eras); the
comparison arm can be restricted to the classes of its time-zero candidature (default:
employer-side reasons, the closest to a random refusal).

Examples:
    >>> CounterfactualDesign().comparison_classes
    ('employer_side',)
    >>> CounterfactualDesign().later_hires
    'censor'
    >>> DEFAULT_REFUSAL_CLASSES["no_position"], DEFAULT_REFUSAL_CLASSES["non_eligible"]
    ('employer_side', 'eligibility')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import duckdb

from ..._log import get_logger
from ..._tables import fresh_name, as_relation, sql_list, sql_map, temp_view
from ...errors import ConfigError, SchemaError
from ...io.contract import (CRITERIA_COLUMNS, ELIGIBILITY_CRITERIA_LEVEL1,
                           ELIGIBILITY_CRITERIA_LEVEL2, REFUSAL_REASONS)

__all__ = ["CounterfactualDesign", "EvaluationDataset", "build_evaluation_dataset",
           "DEFAULT_REFUSAL_CLASSES", "REFUSAL_CLASS_NAMES", "UNITS", "LATER_HIRES",
           "UNLINKED_POLICIES", "DEFAULT_OUTCOMES", "MONTHLY_COLUMNS", "codebook"]

_log = get_logger(__name__)

#: refusal code -> class (both code eras; see DESIGN.md)
DEFAULT_REFUSAL_CLASSES: dict[str, str] = {
    # employer side / timing: the person was not the reason
    "no_position": "employer_side", "duplicate": "employer_side", "auto": "employer_side",
    "prevent_objectives": "employer_side", "deactivation": "employer_side",
    "approval_expiration_too_close": "employer_side",
    # person side
    "did_not_come": "person_side", "did_not_come_to_interview": "person_side",
    "not_interested": "person_side", "hired_elsewhere": "person_side", "training": "person_side",
    "lacking_skills": "person_side", "incompatible": "person_side", "unavailable": "person_side",
    "not_mobile": "person_side", "poorly_informed": "person_side",
    # eligibility
    "non_eligible": "eligibility", "eligibility_doubt": "eligibility",
    "other": "other",
}
#: classes a time-zero candidature can fall in (the last two are not refusal reasons)
REFUSAL_CLASS_NAMES = ("employer_side", "person_side", "eligibility", "other", "unknown",
                       "not_refused")
#: the trial unit, what is done with later hires, and unlinked candidates (design choices)
UNITS = ("person", "person_month")
LATER_HIRES = ("censor", "keep", "exclude")
UNLINKED_POLICIES = ("zero", "drop")
#: the outcomes estimated by default (each needs its horizon among the design's horizons)
DEFAULT_OUTCOMES = ("employed_6m", "employed_12m", "employed_24m", "durable_12m",
                    "months_employed_12m")
_SIAE = ("ACI", "AI", "EI", "ETTI", "EITI")
_IAE_CONTRACTS = ("CDDI", "IAE")
_PRE = (12, 24)
_NEEDED = ("candidats", "candidatures", "structures", "organisations")
#: candidatures without a processing date count as pending this many days
_PENDING_DAYS = 60
#: columns of :attr:`EvaluationDataset.monthly`
MONTHLY_COLUMNS: dict[str, str] = {
    "trial_id": "trial key",
    "k": "month of follow-up: the interval (t0 + (k - 1) months, t0 + k months]",
    "month_start": "t0 + (k - 1) months",
    "month_end": "t0 + k months",
    "at_risk_of_hire": "the interval ends after the grace period (a later hire is possible)",
    "employed_start": "a spell covers month_start (unlinked: as the design's unlinked policy)",
    "months_employed_since_t0": "months j in 1..k-1 with a spell covering t0 + j months",
    "pending_candidatures": "candidatures dated on or before month_start and not yet processed "
                            "then (date_traitement; without it: dated in the 60 days before)",
    "hired_in_month": "the later hire (after the grace period) falls in the interval",
}


@dataclass(frozen=True)
class CounterfactualDesign:
    """How the evaluation dataset is built (a constructor only stores and checks parameters).

    Args:
        grace_days: a hire within this many days after time zero makes the trial treated.
        later_hires: ``"censor"`` (default: censored at their hire, ATT versus never hired),
            ``"keep"`` (ATT versus not hired within the grace period) or ``"exclude"`` for
            comparison people hired after the grace period (see the module docstring).
        unit: ``"person"`` (time zero = first candidature in the window) or ``"person_month"``
            (one trial per month with a candidature, until the first hire).
        comparison_classes: refusal classes of the time-zero candidature allowed in the
            comparison arm; None allows every non-hired person (the broad variant).
        refusal_classes: refusal code -> class; codes absent from it fall in ``"other"``.
        horizons: outcome horizons in months after time zero.
        study_start / study_end: window of time zero (None: the whole extract).
        match_threshold: keep links with ``match_probability >= match_threshold`` whatever their
            decision; None keeps ``decision = 'match'``.
        eligible_only: keep only trials whose person was eligible at time zero (criteria of
            the last diagnosis dated at or before time zero, still valid) or applying to a
            structure that needs no eligibility (GEIQ, EA...).
        diagnosis_validity_days: how long a diagnosis stays valid.
        unlinked: ``"zero"``: a person with no link has no employment spell (the source is
            taken as exhaustive: right when the source is an employment register);
            ``"drop"``: unlinked trials get missing outcomes (see the linkage weights of
            :func:`estimate_effects`).
        follow_up_end: last date the source covers; None: the latest ``date_debut`` of the
            source. An outcome at ``t0 + h`` after it is missing (administrative censoring).
        durable_min_months: a CDD or interim spell this long or longer is "durable".

    Raises:
        ConfigError: a parameter is not allowed (the message names it and the allowed values).

    Examples:
        >>> CounterfactualDesign(grace_days=60, later_hires="exclude").grace_days
        60
        >>> CounterfactualDesign(unit="month")
        Traceback (most recent call last):
        ...
        appariement.errors.ConfigError: CounterfactualDesign.unit='month' is not allowed; use one of person, person_month
    """

    grace_days: int = 90
    later_hires: str = "censor"
    unit: str = "person"
    comparison_classes: tuple[str, ...] | None = ("employer_side",)
    refusal_classes: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_REFUSAL_CLASSES))
    horizons: tuple[int, ...] = (6, 12, 24)
    study_start: dt.date | None = None
    study_end: dt.date | None = None
    match_threshold: float | None = None
    eligible_only: bool = False
    diagnosis_validity_days: int = 183
    unlinked: str = "zero"
    follow_up_end: dt.date | None = None
    durable_min_months: int = 6

    def __post_init__(self) -> None:
        _check_choice("unit", self.unit, UNITS)
        _check_choice("later_hires", self.later_hires, LATER_HIRES)
        _check_choice("unlinked", self.unlinked, UNLINKED_POLICIES)
        if not isinstance(self.grace_days, int) or not 0 < self.grace_days <= 365:
            raise ConfigError(f"CounterfactualDesign.grace_days must be an integer in "
                              f"(0, 365], got {self.grace_days!r}")
        horizons = tuple(int(h) for h in self.horizons)
        if not horizons or any(h < 1 or h > 120 for h in horizons):
            raise ConfigError(f"CounterfactualDesign.horizons must be months in [1, 120], got "
                              f"{self.horizons!r}")
        object.__setattr__(self, "horizons", tuple(sorted(set(horizons))))
        if self.comparison_classes is not None:
            classes = (self.comparison_classes,) if isinstance(self.comparison_classes, str) \
                else tuple(self.comparison_classes)
            for c in classes:
                _check_choice("comparison_classes", c, REFUSAL_CLASS_NAMES)
            object.__setattr__(self, "comparison_classes", classes)
        for code, klass in self.refusal_classes.items():
            _check_choice(f"refusal_classes[{code!r}]", klass, REFUSAL_CLASS_NAMES[:4])
        if self.match_threshold is not None and not 0.0 <= self.match_threshold <= 1.0:
            raise ConfigError(f"CounterfactualDesign.match_threshold must be in [0, 1], got "
                              f"{self.match_threshold!r}")
        for name in ("study_start", "study_end", "follow_up_end"):
            value = getattr(self, name)
            if isinstance(value, str):
                try:
                    object.__setattr__(self, name, dt.date.fromisoformat(value))
                except ValueError:
                    raise ConfigError(f"CounterfactualDesign.{name} must be a date "
                                      f"(YYYY-MM-DD), got {value!r}") from None
        if self.diagnosis_validity_days < 1 or self.durable_min_months < 1:
            raise ConfigError("CounterfactualDesign.diagnosis_validity_days and "
                              "durable_min_months must be positive")

    def replace(self, **changes) -> "CounterfactualDesign":
        """Return a copy with some parameters changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Parameters as JSON-ready values."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dt.date):
                value = value.isoformat()
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def _check_choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"CounterfactualDesign.{name}={value!r} is not allowed; use one of "
                          f"{', '.join(allowed)}")


@dataclass
class EvaluationDataset:
    """The evaluation dataset and what it took to build it.

    Attributes:
        relation: one row per trial (DuckDB relation on ``con``; see :func:`codebook`).
        design: the :class:`CounterfactualDesign` used.
        counts: trials by arm, exclusions by reason, link rate by arm.
        follow_up_end: the follow-up end date used.
    """

    relation: duckdb.DuckDBPyRelation
    design: CounterfactualDesign
    counts: dict
    follow_up_end: dt.date
    #: one row per (trial, month k = 1..max horizon) of the treated and comparison arms, the
    #: time-varying covariates of the censoring model (see :data:`MONTHLY_COLUMNS`)
    monthly: duckdb.DuckDBPyRelation | None = None
    #: covariates added by :meth:`with_covariates`: column -> time reference ("t0", ...)
    added_covariates: dict = field(default_factory=dict)

    def to_pandas(self):
        """The dataset as a pandas DataFrame, with every column (the censoring columns
        ``later_hire_date``, ``hired_later_by_<h>m``, ``observed_<h>m`` included).

        The design travels in ``df.attrs["counterfactual_design"]`` (and the added covariates
        in ``df.attrs["added_covariates"]``), so :func:`estimate_effects` on the frame still
        censors later hires. The monthly covariates of the censoring model do not travel: on a
        frame the censoring weights use time-zero covariates only, and the estimator warns
        (``ipcw_time_zero_only``). To add a covariate, use :meth:`with_covariates`, which keeps
        both.
        """
        df = self.relation.df()
        df.attrs["counterfactual_design"] = self.design
        df.attrs["added_covariates"] = dict(self.added_covariates)
        return df

    def monthly_pandas(self):
        """The monthly covariates as a pandas DataFrame (None when not built)."""
        return None if self.monthly is None else self.monthly.df()

    def with_covariates(self, table: Any, on: str | Sequence[str] = "candidat_id", *,
                        time_reference: str | Mapping[str, str] = "t0"
                        ) -> "EvaluationDataset":
        """A new dataset with extra columns joined on ``on`` (left join: every trial stays).

        The censoring columns and the monthly covariates are kept, so the estimators still
        censor later hires with time-varying weights. Pass the added columns to the estimator
        as ``categorical`` / ``numeric`` covariates.

        Args:
            table: a DataFrame, Arrow table or DuckDB relation with the ``on`` column(s) and
                the new columns (at most one row per key).
            on: key column(s) present in the dataset (``candidat_id`` or ``trial_id``).
            time_reference: when the new columns are known (``"t0"``: at time zero), for all
                of them or per column; a covariate not known at ``t0`` is flagged by the
                estimator's warnings (``covariate_after_t0``).

        Returns:
            An :class:`EvaluationDataset` (same design, counts, follow-up end).

        Raises:
            SchemaError: a key is missing, a new column already exists, or a key repeats.

        Examples:
            >>> import duckdb, pandas as pd
            >>> from appariement.synth import SynthConfig, generate
            >>> d = generate(SynthConfig(n_candidates=100, source_ratio=2, seed=1))
            >>> ds = build_evaluation_dataset(duckdb.connect(), d.platform,
            ...                               d.source["periodes_emploi"], d.truth["links"])
            >>> extra = ds.to_pandas()[["candidat_id"]].assign(score=1.0)
            >>> "score" in ds.with_covariates(extra).relation.columns
            True
        """
        from ..._tables import relation_connection
        keys = [on] if isinstance(on, str) else list(on)
        con = relation_connection(self.relation)
        rel = as_relation(con, table, "covariates")
        missing = [k for k in keys if k not in rel.columns or k not in self.relation.columns]
        if missing:
            raise SchemaError(f"with_covariates: key column(s) {', '.join(missing)} missing "
                              "from the table or the dataset", table="covariates")
        new = [c for c in rel.columns if c not in keys]
        clash = [c for c in new if c in self.relation.columns]
        if clash:
            raise SchemaError(f"with_covariates: column(s) {', '.join(clash)} already in the "
                              "evaluation dataset; rename them", table="covariates")
        k_list = ", ".join(keys)
        dup = rel.aggregate(f"{k_list}, count(*) AS n", k_list).filter("n > 1").aggregate(
            "count(*)").fetchall()[0][0]
        if dup:
            raise SchemaError(f"with_covariates: {dup} key value(s) repeat in the table; give "
                              "at most one row per key", table="covariates")
        name, cov_name = fresh_name("cf_cov_out"), fresh_name("cf_cov")
        temp_view(rel, cov_name)
        cols = ", ".join(f'c."{c}"' for c in new)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT o.*, {cols} FROM "
                    f"{self.relation.alias} o LEFT JOIN {cov_name} c USING ({k_list}) "
                    "ORDER BY o.trial_id")
        con.execute(f"DROP VIEW IF EXISTS {cov_name}")
        refs = ({c: time_reference for c in new} if isinstance(time_reference, str)
                else {c: time_reference.get(c, "unknown") for c in new})
        return dataclasses.replace(self, relation=con.table(name),
                                   added_covariates={**self.added_covariates, **refs})


# ---------------------------------------------------------------- inputs

def _platform_relations(con: duckdb.DuckDBPyConnection, platform: Any
                        ) -> dict[str, duckdb.DuckDBPyRelation]:
    """Canonical relations of the platform tables the design needs."""
    from ...io import read_table
    from ...io.load import Dataset, find_table_files
    if isinstance(platform, Dataset):
        platform = platform.tables
    elif isinstance(platform, (str, Path)):
        platform = find_table_files(platform, "platform")
    out = {}
    for name in (*_NEEDED, "diagnostics", "pass_agrements", "flux_iae_salarie"):
        source = platform.get(name)
        if source is None:
            if name in _NEEDED:
                raise SchemaError(f"table {name!r} is needed for the evaluation dataset; "
                                  f"given: {', '.join(sorted(platform)) or 'none'}", table=name)
            continue
        if isinstance(source, duckdb.DuckDBPyRelation):
            out[name] = source
        else:
            out[name] = read_table(con, source, name)
    return out


def _source_relation(con: duckdb.DuckDBPyConnection, employment: Any) -> duckdb.DuckDBPyRelation:
    from ...io import read_table
    from ...io.load import Dataset, find_table_files
    if isinstance(employment, Dataset):
        employment = employment["periodes_emploi"]
    if isinstance(employment, (str, Path)) and Path(employment).is_dir():
        files = find_table_files(employment, "source")
        if "periodes_emploi" not in files:
            raise SchemaError(f"no periodes_emploi file in {str(employment)!r}",
                              table="periodes_emploi")
        employment = files["periodes_emploi"]
    if isinstance(employment, duckdb.DuckDBPyRelation):
        return employment
    if isinstance(employment, Mapping):
        employment = employment["periodes_emploi"]
    return read_table(con, employment, "periodes_emploi")


def _links_relation(con: duckdb.DuckDBPyConnection, links: Any) -> duckdb.DuckDBPyRelation:
    if links is None:
        return con.sql("SELECT NULL::VARCHAR AS candidat_id, NULL::VARCHAR AS person_id, "
                       "'match' AS decision, 1.0::DOUBLE AS link_probability LIMIT 0")
    if hasattr(links, "links") and isinstance(getattr(links, "links"), duckdb.DuckDBPyRelation):
        links = links.links  # a LinkageResult
    rel = as_relation(con, links, "links")
    missing = {"candidat_id", "person_id"} - set(rel.columns)
    if missing:
        raise SchemaError(f"links: column(s) {', '.join(sorted(missing))} missing; expected "
                          "candidat_id, person_id, decision, match_probability", table="links")
    # truth links carry neither a decision nor a probability: they are certain matches
    decision = "decision" if "decision" in rel.columns else "'match'"
    prob = ("CAST(match_probability AS DOUBLE)" if "match_probability" in rel.columns
            else "1.0::DOUBLE")
    return rel.project(f"CAST(candidat_id AS VARCHAR) AS candidat_id, CAST(person_id AS VARCHAR)"
                       f" AS person_id, {decision} AS decision, {prob} AS link_probability")


# ---------------------------------------------------------------- SQL

def _sql_list(values) -> str:
    return sql_list(values, brackets=True)


def _date_sql(value: dt.date | None, default: str) -> str:
    return f"DATE '{value.isoformat()}'" if value is not None else default


def build_evaluation_dataset(con: duckdb.DuckDBPyConnection, platform: Any, employment: Any,
                             links: Any, design: CounterfactualDesign | None = None
                             ) -> EvaluationDataset:
    """Build the evaluation dataset (DuckDB SQL, materialised as a table on ``con``).

    Args:
        con: DuckDB connection.
        platform: ``{table: relation | DataFrame | Arrow | path}``, an
            :class:`appariement.io.Dataset` or a folder; uses ``candidats``,
            ``candidatures``, ``structures``, ``organisations`` and ``diagnostics`` when given.
        employment: ``periodes_emploi`` (relation, DataFrame, Arrow, file or source folder).
        links: ``candidat_id, person_id, decision, match_probability`` (relation, DataFrame,
            Arrow, Parquet file, or a :class:`~appariement.linkage.LinkageResult`); None: no
            link at all.
        design: the :class:`CounterfactualDesign` (defaults when None).

    Returns:
        An :class:`EvaluationDataset`; its columns are described by :func:`codebook`.

    Raises:
        SchemaError: a needed table or column is missing.

    Examples:
        >>> import duckdb
        >>> from appariement.synth import SynthConfig, generate
        >>> d = generate(SynthConfig(n_candidates=200, source_ratio=2, seed=1))
        >>> con = duckdb.connect()
        >>> links = d.truth["links"]
        >>> ds = build_evaluation_dataset(con, d.platform, d.source["periodes_emploi"], links)
        >>> ds.counts["trials"] == 200
        True
    """
    design = design or CounterfactualDesign()
    from ...identity import register_sql_functions
    register_sql_functions(con)
    plat = _platform_relations(con, platform)
    spells = _source_relation(con, employment)
    link_rel = _links_relation(con, links)
    names = {k: fresh_name(f"cf_{k}") for k in
             ("cand", "app", "spells", "links", "trials", "emp", "out")}
    for key, rel in (("cand", plat["candidats"]), ("app", plat["candidatures"]),
                     ("spells", spells), ("links", link_rel)):
        temp_view(rel, names[key])
    s_name, o_name = fresh_name("cf_struct"), fresh_name("cf_org")
    temp_view(plat["structures"], s_name)
    temp_view(plat["organisations"], o_name)
    d_name = None
    if "diagnostics" in plat:
        d_name = fresh_name("cf_diag")
        temp_view(plat["diagnostics"], d_name)

    follow_up_end = design.follow_up_end or con.execute(
        f"SELECT max(date_debut) FROM {names['spells']}").fetchall()[0][0] or dt.date.today()
    try:
        sql = _dataset_sql(design, names, s_name, o_name, d_name, follow_up_end)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {names['out']} AS {sql}")
    finally:
        for view in (names["cand"], names["app"], names["spells"], names["links"], s_name,
                     o_name, d_name):
            if view:
                con.execute(f"DROP VIEW IF EXISTS {view}")
    if "pass_agrements" in plat and "flux_iae_salarie" in plat:
        # the IAE spell as the ASP records it (after t0: an outcome of the hire, never a
        # covariate); candidates without a joined contract have NULL dates
        from ...io.pass_join import iae_spells
        spells_rel = iae_spells(con, plat["pass_agrements"], plat["flux_iae_salarie"])
        with_iae = fresh_name("cf_out_iae")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {with_iae} AS SELECT o.*, i.iae_start, "
                    f"i.iae_exit FROM {names['out']} o LEFT JOIN {spells_rel.alias} i "
                    "USING (candidat_id) ORDER BY o.trial_id")
        con.execute(f"DROP TABLE IF EXISTS {names['out']}")
        con.execute(f"DROP TABLE IF EXISTS {spells_rel.alias}")
        names["out"] = with_iae
    rel = con.table(names["out"])
    monthly = _monthly_table(con, design, names["out"], plat["candidatures"], spells)
    counts = _counts(con, names["out"])
    _log.info("evaluation dataset: %d trials (%s)", counts["trials"],
              ", ".join(f"{k} {v}" for k, v in counts["by_arm"].items()))
    return EvaluationDataset(relation=rel, design=design, counts=counts,
                             follow_up_end=follow_up_end, monthly=monthly)


def _monthly_table(con: duckdb.DuckDBPyConnection, design: CounterfactualDesign, out: str,
                   candidatures: duckdb.DuckDBPyRelation, spells: duckdb.DuckDBPyRelation
                   ) -> duckdb.DuckDBPyRelation:
    """The person-months of the treated and comparison trials with the time-varying covariates
    of the censoring model (a pooled person-month model of "hired after the grace period")."""
    app, sp, name = fresh_name("cf_m_app"), fresh_name("cf_m_sp"), fresh_name("cf_monthly")
    temp_view(candidatures, app)
    temp_view(spells, sp)
    hmax = max(design.horizons)
    if "date_traitement" in candidatures.columns:
        pending = (f"a.date_candidature <= g.month_start AND (a.date_traitement IS NULL OR "
                   f"a.date_traitement > g.month_start)")
    else:
        pending = (f"a.date_candidature <= g.month_start AND a.date_candidature > "
                   f"g.month_start - {_PENDING_DAYS}")
    unlinked = "FALSE" if design.unlinked == "zero" else "NULL"
    try:
        con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        WITH tr AS (
            SELECT trial_id, candidat_id, person_id, linked, t0, later_hire_date
            FROM {out} WHERE arm IN ('treated', 'comparison')),
        g AS (
            SELECT tr.*, r.k, (t0 + to_months(r.k - 1))::DATE AS month_start,
                   (t0 + to_months(r.k))::DATE AS month_end
            FROM tr, range(1, {hmax + 1}) r(k)),
        emp AS (
            SELECT g.trial_id, g.k, bool_or(s.person_id IS NOT NULL) AS employed
            FROM g LEFT JOIN {sp} s ON g.linked AND s.person_id = g.person_id
             AND s.date_debut <= g.month_start
             AND coalesce(s.date_fin, DATE '9999-12-31') >= g.month_start
            GROUP BY g.trial_id, g.k),
        pend AS (
            SELECT g.trial_id, g.k, count(a.candidature_id) AS pending_candidatures
            FROM g LEFT JOIN {app} a ON a.candidat_id = g.candidat_id AND {pending}
            GROUP BY g.trial_id, g.k)
        SELECT g.trial_id, g.k::INTEGER AS k, g.month_start, g.month_end,
               g.month_end > g.t0 + {int(design.grace_days)} AS at_risk_of_hire,
               CASE WHEN g.linked THEN coalesce(e.employed, FALSE) ELSE {unlinked} END
                   AS employed_start,
               CASE WHEN g.linked THEN coalesce(sum(CASE WHEN g.k > 1 AND e.employed THEN 1
                   ELSE 0 END) OVER (PARTITION BY g.trial_id ORDER BY g.k ROWS BETWEEN
                   UNBOUNDED PRECEDING AND CURRENT ROW), 0)
                    ELSE {'0' if design.unlinked == 'zero' else 'NULL'} END::INTEGER
                   AS months_employed_since_t0,
               p.pending_candidatures::INTEGER AS pending_candidatures,
               coalesce(g.later_hire_date > g.month_start AND g.later_hire_date <= g.month_end,
                        FALSE) AS hired_in_month
        FROM g JOIN emp e USING (trial_id, k) JOIN pend p USING (trial_id, k)
        ORDER BY g.trial_id, g.k""")
    finally:
        con.execute(f"DROP VIEW IF EXISTS {app}")
        con.execute(f"DROP VIEW IF EXISTS {sp}")
    return con.table(name)


def _counts(con: duckdb.DuckDBPyConnection, table: str) -> dict:
    by_arm = dict(con.execute(f"SELECT arm, count(*) FROM {table} GROUP BY arm ORDER BY arm"
                              ).fetchall())
    excl = dict(con.execute(f"SELECT exclusion_reason, count(*) FROM {table} WHERE arm = "
                            "'excluded' GROUP BY 1 ORDER BY 1").fetchall())
    link = {arm: {"n": n, "linked": k, "link_rate": (k / n if n else None)}
            for arm, n, k in con.execute(
                f"SELECT arm, count(*), count_if(linked) FROM {table} GROUP BY arm ORDER BY arm"
            ).fetchall()}
    n = con.execute(f"SELECT count(*), count(DISTINCT candidat_id) FROM {table}").fetchall()[0]
    return {"trials": n[0], "persons": n[1], "by_arm": by_arm, "exclusions": excl,
            "linkage_by_arm": link}


def _dataset_sql(design: CounterfactualDesign, n: dict, s_name: str, o_name: str,
                 d_name: str | None, follow_up_end: dt.date) -> str:
    grace = int(design.grace_days)
    start = _date_sql(design.study_start, "DATE '0001-01-01'")
    end = _date_sql(design.study_end, "DATE '9999-12-31'")
    fu_end = _date_sql(follow_up_end, "")
    hmax = max(design.horizons)
    refusal_map = sql_map(design.refusal_classes)  # user codes: escaped, never pasted
    crit = list(CRITERIA_COLUMNS)
    lvl1 = [f"critere_{c.lower()}" for c in ELIGIBILITY_CRITERIA_LEVEL1]
    lvl2 = [f"critere_{c.lower()}" for c in ELIGIBILITY_CRITERIA_LEVEL2]
    if d_name:
        diag_src = (f"SELECT candidat_id, date_diagnostic, {', '.join(crit)} FROM {d_name} "
                    f"UNION ALL ")
    else:
        diag_src = ""
    diag_src += (f"SELECT candidat_id, date_diagnostic, {', '.join(crit)} FROM {n['cand']} "
                 "WHERE date_diagnostic IS NOT NULL")
    if design.unit == "person":
        trial_key = "candidat_id"
        trial_group = "candidat_id"
    else:
        trial_key = "candidat_id || ':' || strftime(date_trunc('month', date_candidature), '%Y-%m')"
        trial_group = "candidat_id, date_trunc('month', date_candidature)"
    if design.match_threshold is None:
        link_filter = "decision = 'match'"
    else:
        link_filter = f"link_probability >= {float(design.match_threshold)!r}"
    h_cols = []
    for h in design.horizons:
        h_cols.append(f"""
        e.employed_{h}m, e.employed_excl_iae_{h}m, e.durable_{h}m, e.months_employed_{h}m,
        e.earnings_{h}m,
        (t.t0 + INTERVAL {h} MONTH)::DATE <= {fu_end} AS observed_{h}m,
        coalesce(t.later_hire_date <= (t.t0 + INTERVAL {h} MONTH)::DATE, FALSE) AS hired_later_by_{h}m""")
    emp_cols = []
    for h in design.horizons:
        emp_cols.append(f"""
        bool_or(employed) FILTER (WHERE k = {h}) AS employed_{h}m,
        bool_or(employed_excl_iae) FILTER (WHERE k = {h}) AS employed_excl_iae_{h}m,
        bool_or(durable) FILTER (WHERE k = {h}) AS durable_{h}m,
        count_if(employed AND k BETWEEN 1 AND {h}) AS months_employed_{h}m""")
    earn_cols = ", ".join(
        f"sum(s.salaire * greatest(0, least(coalesce(s.date_fin, DATE '9999-12-31'), "
        f"(l.t0 + INTERVAL {h} MONTH)::DATE) - greatest(s.date_debut, l.t0 + 1) + 1)"
        f" / greatest(1, coalesce(s.date_fin, (l.t0 + INTERVAL {h} MONTH)::DATE) - s.date_debut + 1))"
        f" AS earnings_{h}m" for h in design.horizons)
    pre_cols = ", ".join(f"count_if(employed AND k BETWEEN -{p} AND -1) AS pre_months_employed_{p}"
                         for p in _PRE)
    zero = "0" if design.unlinked == "zero" else "NULL"
    false = "FALSE" if design.unlinked == "zero" else "NULL"

    def fill(col: str, kind: str) -> str:
        # a linked person without a spell in the window was not employed: FALSE / 0
        linked_default = {"bool": "FALSE", "int": "0", "float": "0.0"}[kind]
        unlinked = {"bool": false, "int": zero, "float": "0.0" if zero == "0" else "NULL"}[kind]
        return (f"CASE WHEN linked THEN coalesce({col}, {linked_default}) "
                f"ELSE {unlinked} END AS {col}")

    filled = []
    for h in design.horizons:
        filled += [fill(f"employed_{h}m", "bool"), fill(f"employed_excl_iae_{h}m", "bool"),
                   fill(f"durable_{h}m", "bool"), fill(f"months_employed_{h}m", "int"),
                   fill(f"earnings_{h}m", "float")]
        # a linked person's outcome beyond the follow-up end is not observed
    filled += [fill(f"pre_months_employed_{p}", "int") for p in _PRE]
    classes = design.comparison_classes
    class_test = ("TRUE" if classes is None else
                  f"refusal_class_t0 IN ({sql_list(classes)})")
    later_excl = "later_hire_date IS NOT NULL" if design.later_hires == "exclude" else "FALSE"
    elig_excl = "NOT eligible_t0" if design.eligible_only else "FALSE"
    siae, iae = sql_list(_SIAE), sql_list(_IAE_CONTRACTS)
    return f"""
    WITH
    app AS (
        SELECT a.candidature_id, a.candidat_id, a.date_candidature, a.etat, a.motif_refus,
               a.date_embauche, a.origine, s.type AS structure_type, s.departement AS structure_dept,
               o.type AS org_type
        FROM {n['app']} a
        LEFT JOIN {s_name} s ON s.structure_id = a.structure_id
        LEFT JOIN {o_name} o ON o.organisation_id = a.organisation_id),
    hires AS (
        SELECT candidat_id, date_embauche AS hire_date FROM app
        WHERE etat = 'accepted' AND date_embauche IS NOT NULL AND date_embauche <= {fu_end}),
    firsts AS (  -- the time-zero candidature of each trial: earliest, ties by id
        SELECT {trial_key} AS trial_id, *,
               row_number() OVER (PARTITION BY {trial_group}
                                  ORDER BY date_candidature, candidature_id) AS rk
        FROM app WHERE date_candidature BETWEEN {start} AND {end}),
    t0s AS (
        SELECT f.trial_id, f.candidat_id, f.candidature_id AS candidature_id_t0,
               f.date_candidature AS t0, f.etat AS etat_t0, f.motif_refus AS motif_refus_t0,
               f.structure_type AS structure_type_t0, f.structure_dept AS structure_dept_t0,
               coalesce(f.org_type, 'none') AS prescriber_type_t0,
               coalesce(f.origine, 'unknown') AS origine_t0
        FROM firsts f WHERE rk = 1),
    hire_t AS (
        SELECT t.trial_id,
               max(h.hire_date) FILTER (WHERE h.hire_date < t.t0) AS prior_hire_date,
               min(h.hire_date) FILTER (WHERE h.hire_date >= t.t0) AS hire_date,
               min(h.hire_date) FILTER (WHERE h.hire_date > t.t0 + {grace}) AS later_hire_date
        FROM t0s t LEFT JOIN hires h ON h.candidat_id = t.candidat_id GROUP BY t.trial_id),
    prior_apps AS (
        SELECT t.trial_id, count(a.candidature_id) AS n_prior_candidatures
        FROM t0s t LEFT JOIN app a ON a.candidat_id = t.candidat_id AND a.date_candidature < t.t0
        GROUP BY t.trial_id),
    diag AS (  -- the last diagnosis dated at or before time zero, still valid
        SELECT trial_id, {', '.join('d.' + c for c in crit)}, d.date_diagnostic
        FROM t0s t JOIN ({diag_src}) d
          ON d.candidat_id = t.candidat_id AND d.date_diagnostic <= t.t0
         AND d.date_diagnostic > t.t0 - {int(design.diagnosis_validity_days)}
        QUALIFY row_number() OVER (PARTITION BY trial_id ORDER BY d.date_diagnostic DESC) = 1),
    lk AS (
        SELECT candidat_id,
               first(person_id ORDER BY coalesce(link_probability, 1.0) DESC, person_id)
                   AS person_id,
               max(coalesce(link_probability, 1.0)) AS match_probability
        FROM {n['links']} WHERE {link_filter}
        GROUP BY candidat_id),
    base AS (
        SELECT t.*, h.prior_hire_date, h.hire_date,
               CASE WHEN h.hire_date <= t.t0 + {grace} THEN NULL ELSE h.later_hire_date END
                   AS later_hire_date,
               h.hire_date IS NOT NULL AND h.hire_date <= t.t0 + {grace} AS treated,
               h.hire_date IS NOT NULL AS ever_hired,
               CASE WHEN t.etat_t0 <> 'refused' THEN 'not_refused'
                    WHEN t.motif_refus_t0 IS NULL THEN 'unknown'
                    ELSE coalesce(({refusal_map})[t.motif_refus_t0], 'other') END
                   AS refusal_class_t0,
               p.n_prior_candidatures, c.date_inscription, c.type_inscription,
               app_sex(c.sexe) AS sexe_t0,
               app_dept_of_postcode(c.code_postal) AS residence_dept,
               year(t.t0) - app_parse_date(c.date_naissance).year
                 - CASE WHEN app_parse_date(c.date_naissance).month > month(t.t0) THEN 1
                        ELSE 0 END AS age_t0,
               dg.date_diagnostic AS date_diagnostic_t0,
               dg.date_diagnostic IS NOT NULL AS criteria_known_t0,
               {', '.join(f'coalesce(dg.{c}, FALSE) AS {c}_t0' for c in crit)},
               {' + '.join(f'coalesce(dg.{c}, FALSE)::INTEGER' for c in lvl1)} AS n_level1_t0,
               {' + '.join(f'coalesce(dg.{c}, FALSE)::INTEGER' for c in lvl2)} AS n_level2_t0,
               lk.person_id, lk.match_probability, lk.person_id IS NOT NULL AS linked
        FROM t0s t
        JOIN hire_t h USING (trial_id)
        JOIN prior_apps p USING (trial_id)
        JOIN {n['cand']} c ON c.candidat_id = t.candidat_id
        LEFT JOIN diag dg USING (trial_id)
        LEFT JOIN lk ON lk.candidat_id = t.candidat_id),
    elig AS (
        SELECT *,
               CASE WHEN structure_type_t0 NOT IN ({siae}) THEN TRUE
                    WHEN NOT criteria_known_t0 THEN FALSE
                    ELSE n_level1_t0 >= 1 OR n_level2_t0 >=
                         CASE WHEN structure_type_t0 IN ('AI', 'ETTI') THEN 2 ELSE 3 END
               END AS eligible_t0
        FROM base),
    pts AS (
        SELECT b.trial_id, b.person_id, r.k, (b.t0 + to_months(r.k))::DATE AS d
        FROM elig b, range(-{max(_PRE)}, {hmax + 1}) r(k)
        WHERE b.linked AND r.k <> 0),
    pt_emp AS (
        SELECT p.trial_id, p.k,
               bool_or(s.person_id IS NOT NULL) AS employed,
               bool_or(s.person_id IS NOT NULL AND coalesce(s.type_contrat, '') NOT IN ({iae}))
                   AS employed_excl_iae,
               bool_or(s.type_contrat = 'CDI' OR (s.type_contrat IN ('CDD', 'INTERIM') AND
                       (s.date_fin IS NULL OR s.date_fin >= (s.date_debut
                        + to_months({int(design.durable_min_months)}))::DATE - 1))) AS durable
        FROM pts p LEFT JOIN {n['spells']} s
          ON s.person_id = p.person_id AND s.date_debut <= p.d
         AND coalesce(s.date_fin, DATE '9999-12-31') >= p.d
        GROUP BY p.trial_id, p.k),
    emp AS (
        SELECT trial_id, {', '.join(emp_cols)}, {pre_cols}
        FROM pt_emp GROUP BY trial_id),
    earn AS (
        SELECT l.trial_id, {earn_cols}
        FROM elig l JOIN {n['spells']} s ON s.person_id = l.person_id
         AND s.date_debut <= (l.t0 + INTERVAL {hmax} MONTH)::DATE
         AND coalesce(s.date_fin, DATE '9999-12-31') > l.t0
        WHERE l.linked GROUP BY l.trial_id),
    joined AS (
        SELECT t.*, {', '.join(h_cols)}, e.pre_months_employed_12, e.pre_months_employed_24
        FROM elig t LEFT JOIN (SELECT * FROM emp LEFT JOIN earn USING (trial_id)) e
          USING (trial_id))
    SELECT trial_id, candidat_id, candidature_id_t0, t0,
           date_trunc('month', t0)::DATE AS t0_month,
           CASE WHEN prior_hire_date IS NOT NULL THEN 'excluded'
                WHEN {elig_excl} THEN 'excluded'
                WHEN treated THEN 'treated'
                WHEN {later_excl} THEN 'excluded'
                WHEN NOT ({class_test}) THEN 'excluded'
                ELSE 'comparison' END AS arm,
           CASE WHEN prior_hire_date IS NOT NULL THEN 'hired_before_t0'
                WHEN {elig_excl} THEN 'not_eligible_t0'
                WHEN treated THEN NULL
                WHEN {later_excl} THEN 'later_hire'
                WHEN NOT ({class_test}) THEN 'comparison_class'
                END AS exclusion_reason,
           treated, hire_date, (hire_date - t0) AS days_to_hire, later_hire_date, ever_hired,
           etat_t0, motif_refus_t0, refusal_class_t0, structure_type_t0, structure_dept_t0,
           prescriber_type_t0, origine_t0, residence_dept, sexe_t0, age_t0,
           CASE WHEN age_t0 IS NULL THEN 'unknown' WHEN age_t0 < 26 THEN '<26'
                WHEN age_t0 < 35 THEN '26-34' WHEN age_t0 < 45 THEN '35-44'
                WHEN age_t0 < 50 THEN '45-49' ELSE '50+' END AS age_band_t0,
           type_inscription, (t0 - date_inscription) AS days_since_inscription,
           n_prior_candidatures, date_diagnostic_t0, criteria_known_t0, eligible_t0,
           n_level1_t0, n_level2_t0, {', '.join(c + '_t0' for c in crit)},
           linked, person_id, match_probability,
           {', '.join(filled)},
           {', '.join(f'observed_{h}m, hired_later_by_{h}m' for h in design.horizons)}
    FROM joined t ORDER BY trial_id
    """


_CODEBOOK_FIXED: list[tuple[str, str, str]] = [
    ("trial_id", "trial key: candidat_id (unit person) or candidat_id:YYYY-MM (person-month)",
     "t0"),
    ("candidat_id", "platform candidate id (pseudonymous key)", "-"),
    ("candidature_id_t0", "the time-zero candidature (earliest in the trial, ties by id)", "t0"),
    ("t0", "time zero: date of the first candidature of the trial in the study window", "t0"),
    ("t0_month", "calendar month of t0 (the matching cell)", "t0"),
    ("arm", "treated | comparison | excluded", "t0 + grace"),
    ("exclusion_reason", "hired_before_t0 | not_eligible_t0 | later_hire | comparison_class",
     "t0 + grace"),
    ("treated", "hired (accepted, date_embauche) within grace_days after t0", "t0 + grace"),
    ("hire_date", "first hire date on or after t0", "any"),
    ("days_to_hire", "hire_date - t0 in days", "any"),
    ("later_hire_date", "first hire after the grace period (not treated people only); under "
     "later_hires='censor' the comparison person is censored at this date (estimand: hired "
     "within the grace period versus never hired); under 'keep' the outcome counts anyway "
     "(versus not hired within the grace period)", "any"),
    ("ever_hired", "hired at any time after t0; NOT a valid treatment (immortal-time bias)",
     "any"),
    ("etat_t0", "final state of the time-zero candidature (extract snapshot)", "extract"),
    ("motif_refus_t0", "refusal code of the time-zero candidature (both eras)", "extract"),
    ("refusal_class_t0", "class of motif_refus_t0: employer_side, person_side, eligibility, "
     "other, unknown (refused without code), not_refused", "extract"),
    ("structure_type_t0", "type of the structure applied to at t0", "t0"),
    ("structure_dept_t0", "département of that structure", "t0"),
    ("prescriber_type_t0", "type of the prescribing organisation at t0 ('none' if none)", "t0"),
    ("origine_t0", "origin of the t0 candidature (candidat / prescripteur / employeur)", "t0"),
    ("residence_dept", "département of residence from the postcode (extract value)", "extract"),
    ("sexe_t0", "sex, '1' or '2'", "t0"),
    ("age_t0", "age in years at t0 from the (possibly partial) birth date", "t0"),
    ("age_band_t0", "age band at t0 (<26, 26-34, 35-44, 45-49, 50+, unknown)", "t0"),
    ("type_inscription", "autonome / tiers", "t0"),
    ("days_since_inscription", "t0 - date_inscription", "t0"),
    ("n_prior_candidatures", "candidatures before t0", "t0"),
    ("date_diagnostic_t0", "date of the last diagnosis at or before t0, still valid", "t0"),
    ("criteria_known_t0", "a valid diagnosis existed at t0", "t0"),
    ("eligible_t0", "eligible at t0 (1 level-1 criterion, or 2 (AI, ETTI) / 3 (ACI, EI, EITI) "
     "level-2 criteria; TRUE for structures without eligibility rule)", "t0"),
    ("n_level1_t0", "number of level-1 criteria at t0", "t0"),
    ("n_level2_t0", "number of level-2 criteria at t0", "t0"),
    ("linked", "the candidate has a link to a source person", "-"),
    ("person_id", "linked source person (pseudonymous key)", "-"),
    ("match_probability", "probability of the link kept", "-"),
    ("pre_months_employed_12", "months k in 1..12 with a spell covering t0 - k months", "t0"),
    ("pre_months_employed_24", "months k in 1..24 with a spell covering t0 - k months", "t0"),
]

#: columns added when the platform gives the approvals and the ASP's fluxIAE (PASS join)
_CODEBOOK_IAE = [
    ("iae_start", "first IAE contract start in fluxIAE (ASP), joined by PASS number or its "
     "hash; NULL without a joined contract; an outcome of the hire, not a covariate",
     "extract"),
    ("iae_exit", "definitive exit from the IAE spell: the last fluxIAE contract end, NULL "
     "while a contract is open", "extract"),
]


def codebook(design: CounterfactualDesign | None = None, *, iae: bool = True) -> list[dict]:
    """Describe every column of the evaluation dataset.

    Args:
        design: the design (its horizons decide the outcome columns).
        iae: the dataset has the IAE spell columns (``iae_start``, ``iae_exit``: the platform
            gave ``pass_agrements`` and ``flux_iae_salarie``).

    Returns:
        A list of ``{"column", "definition", "time_reference"}``; the time reference says when
        the value is known (``t0``: at time zero; ``t0 + grace``: at the end of the grace
        period; ``t0 + h``: at the horizon; ``extract``: as in the extract snapshot).

    Examples:
        >>> [c["column"] for c in codebook()][:3]
        ['trial_id', 'candidat_id', 'candidature_id_t0']
    """
    design = design or CounterfactualDesign()
    rows = [{"column": c, "definition": d, "time_reference": t}
            for c, d, t in (*_CODEBOOK_FIXED, *(_CODEBOOK_IAE if iae else ()))]
    pos = [r["column"] for r in rows].index("n_level2_t0") + 1
    crit_rows = [{"column": f"{c}_t0", "definition": f"criterion {c[8:].upper()} in the "
                  "diagnosis valid at t0 (FALSE when none)", "time_reference": "t0"}
                 for c in CRITERIA_COLUMNS]
    rows[pos:pos] = crit_rows
    unl = ("no link -> FALSE/0 (the source is taken as exhaustive)" if design.unlinked == "zero"
           else "no link -> NULL")
    for h in design.horizons:
        ref = f"t0 + {h} months"
        rows += [
            {"column": f"employed_{h}m", "definition": f"a spell (any contract) covers t0 + {h} "
             f"months; {unl}", "time_reference": ref},
            {"column": f"employed_excl_iae_{h}m", "definition": "same, IAE contracts (CDDI) "
             "excluded", "time_reference": ref},
            {"column": f"durable_{h}m", "definition": "a CDI, or a CDD/interim of at least "
             f"{design.durable_min_months} months, covers t0 + {h} months", "time_reference": ref},
            {"column": f"months_employed_{h}m", "definition": f"months k in 1..{h} with a spell "
             "covering t0 + k months", "time_reference": ref},
            {"column": f"earnings_{h}m", "definition": f"salaire of spells pro-rated to the "
             f"days in (t0, t0 + {h} months] (salaire read as the spell total)",
             "time_reference": ref},
            {"column": f"observed_{h}m", "definition": "t0 + h is before the follow-up end "
             "(otherwise the outcome is administratively censored)", "time_reference": ref},
            {"column": f"hired_later_by_{h}m", "definition": "a comparison person hired after "
             f"the grace period but by t0 + {h} months (censored at h under later_hires="
             "'censor')", "time_reference": ref},
        ]
    return rows
