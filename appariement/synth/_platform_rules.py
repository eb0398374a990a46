"""The rules of the platform (les emplois de l'inclusion) the generator follows, and a checker.

The dates are those of the commits of ``gip-inclusion/les-emplois`` that introduced each rule
(author dates; the deployment followed by days to weeks), read in the public code:

- ``itou/job_applications/enums.py``: states (``prior_to_hire`` with the PriorAction model,
  805e3c52f, 2023-03-15, for companies that ``can_have_prior_action``: GEIQ; ``pool``,
  95ea80583, 2025-08-21), refusal reasons (``not_mobile`` ca0bcfd9f 2021-09-20,
  ``poorly_informed`` cf5e77222 2021-11-04, the revision e969aba6e of 2022-07-26 that hid
  unavailable / eligibility_doubt / poorly_informed / approval_expiration_too_close /
  deactivation and added did_not_come_to_interview, not_interested, hired_elsewhere, training,
  lacking_skills; ``duplicate`` 461b14d60 2022-10-26; ``auto`` 5ede419be 2025-03-05),
  ``AUTO_REJECT_JOB_APPLICATION_STATES`` (new, processing) and
  ``AUTO_REJECT_JOB_APPLICATION_DELAY`` (60 days).
- ``management/commands/reject_job_applications_after_delay.py`` (256ef5a4d, 2025-03-10): the
  job that refuses, as ``auto``, every new/processing application not archived and not updated
  for 60 days, whatever its creation date.
- ``management/commands/archive_job_applications.py`` (a5fb260e8, 2024-07-29): applications
  idle for 180 days are archived (an archived application is never auto-refused).
- ``itou/job_applications/models.py``: ``render_obsolete`` from new/processing/postponed only,
  when another application of the job seeker is accepted; ``processed_at`` set by accept /
  refuse / cancel / render_obsolete and cleared by process / postpone / add_to_pool /
  move_to_prior_to_hire / cancel_prior_to_hire / transfer / reset; ``cancel`` deletes the PASS.
- ``itou/eligibility/models/``: a prescriber's diagnosis lasts 6 months
  (``EXPIRATION_DELAY_MONTHS``), an employer's 92 days
  (``EMPLOYER_DIAGNOSIS_VALIDITY_TIMEDELTA``) and counts for that employer only; criteria are
  mandatory only in an employer's diagnosis (one level-1 criterion, or 2 level-2 for AI / ETTI,
  3 for ACI / EI / EITI); an IAE hire needs a diagnosis valid when it is accepted.

:func:`rule_violations` counts, rule by rule, the rows of generated tables that break them.
What the tables cannot show is left to the generator's construction and not checked: the
structure of an employer's diagnosis (``diagnostics`` has no such column), the state an
application was in before it was auto-refused (postponed is never), archiving (no column).
"""

from __future__ import annotations

import duckdb
import numpy as np

from .._tables import sql_list
from ..io.contract import ELIGIBILITY_CRITERIA_LEVEL1, ELIGIBILITY_CRITERIA_LEVEL2

_D = np.datetime64

PRIOR_TO_HIRE_START = _D("2023-03-15", "D")
PRIOR_TO_HIRE_STRUCTURES = ("GEIQ",)
POOL_START = _D("2025-08-21", "D")
REASONS_REVISED = _D("2022-07-26", "D")
AUTO_REFUSAL_START = _D("2025-03-10", "D")
AUTO_REFUSAL_DELAY_DAYS = 60
AUTO_REFUSAL_STATES = ("new", "processing")
ARCHIVE_START = _D("2024-07-29", "D")
ARCHIVE_DELAY_DAYS = 180
PENDING_STATES = ("new", "processing", "postponed")
#: states whose transition sets ``processed_at`` (``date_traitement``); the others clear it
PROCESSED_STATES = ("accepted", "refused", "cancelled", "obsolete")
PRESCRIBER_DIAGNOSIS_MONTHS = 6
EMPLOYER_DIAGNOSIS_DAYS = 92
#: an employer's diagnosis: one level-1 criterion, or this many level-2 (the least demanding
#: kinds, AI and ETTI; ACI, EI, EITI ask for 3)
EMPLOYER_MIN_LEVEL2 = 2
EMPLOYER_MIN_LEVEL2_STRICT = 3
#: structures whose hires need an IAE diagnosis (GEIQ has its own, EA/EATT/OPCS none)
IAE_STRUCTURES = ("ACI", "AI", "EI", "ETTI", "EITI")
#: generator convention: the last update of a processing / postponed / pool / prior_to_hire
#: application falls within this many days of its creation (a new one is never updated)
TOUCH_DAYS = 30
#: when each refusal reason could be chosen: [start, end), None for unbounded
REASON_PERIODS: dict[str, tuple[np.datetime64 | None, np.datetime64 | None]] = {
    "did_not_come": (None, None),
    "non_eligible": (None, None),
    "incompatible": (None, None),
    "prevent_objectives": (None, None),
    "no_position": (None, None),
    "other": (None, None),
    "unavailable": (None, REASONS_REVISED),
    "eligibility_doubt": (None, REASONS_REVISED),
    "approval_expiration_too_close": (None, REASONS_REVISED),
    "deactivation": (None, REASONS_REVISED),
    "poorly_informed": (_D("2021-11-04", "D"), REASONS_REVISED),
    "not_mobile": (_D("2021-09-20", "D"), None),
    "did_not_come_to_interview": (REASONS_REVISED, None),
    "not_interested": (REASONS_REVISED, None),
    "hired_elsewhere": (REASONS_REVISED, None),
    "training": (REASONS_REVISED, None),
    "lacking_skills": (REASONS_REVISED, None),
    "duplicate": (_D("2022-10-26", "D"), None),
    "auto": (AUTO_REFUSAL_START, None),
}


def reason_available(code: str, dates: np.ndarray) -> np.ndarray:
    """Whether refusal reason ``code`` could be chosen on each of ``dates`` (datetime64[D])."""
    start, end = REASON_PERIODS[code]
    dates = np.asarray(dates, dtype="datetime64[D]")
    ok = ~np.isnat(dates)
    if start is not None:
        ok &= dates >= start
    if end is not None:
        ok &= dates < end
    return ok


def auto_refusal_date(touch: np.ndarray) -> np.ndarray:
    """When the job refuses a new/processing application last updated on ``touch`` (if it is
    not archived first, see :func:`archived_before`)."""
    return np.maximum(AUTO_REFUSAL_START, touch + AUTO_REFUSAL_DELAY_DAYS)


def archived_before(touch: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Whether an application last updated on ``touch`` is archived before ``when``."""
    return np.maximum(ARCHIVE_START, touch + ARCHIVE_DELAY_DAYS) <= when


def diagnosis_expiry(dates: np.ndarray, prescriber: np.ndarray) -> np.ndarray:
    """First day a diagnosis of ``dates`` is no longer valid (6 months / 92 days)."""
    from ._reference import add_months
    dates = np.asarray(dates, dtype="datetime64[D]")
    return np.where(prescriber, add_months(dates, PRESCRIBER_DIAGNOSIS_MONTHS),
                    dates + EMPLOYER_DIAGNOSIS_DAYS)


# ---------------------------------------------------------------- checker

RULES = (
    "prior_to_hire_outside_geiq", "prior_to_hire_before_introduction",
    "pool_before_introduction", "processed_at_by_state", "refusal_reason_by_state",
    "refusal_reason_out_of_period", "auto_refusal_too_early", "auto_refusal_missed",
    "obsolete_without_acceptance", "pending_after_acceptance", "pass_without_accepted_hire",
    "employer_diagnosis_without_criteria", "hire_without_valid_diagnosis",
)


def _sql_date(value: np.datetime64) -> str:
    return f"DATE '{np.datetime_as_string(value, unit='D')}'"


def _list(values) -> str:
    return sql_list(values)


def _queries(as_of: str) -> dict[str, str]:
    auto0, delay = _sql_date(AUTO_REFUSAL_START), AUTO_REFUSAL_DELAY_DAYS
    arch0, arch_delay = _sql_date(ARCHIVE_START), ARCHIVE_DELAY_DAYS
    lvl1 = " + ".join(f"critere_{c.lower()}::INTEGER" for c in ELIGIBILITY_CRITERIA_LEVEL1)
    lvl2 = " + ".join(f"critere_{c.lower()}::INTEGER" for c in ELIGIBILITY_CRITERIA_LEVEL2)
    pending, processed = _list(PENDING_STATES), _list(PROCESSED_STATES)
    return {
        "prior_to_hire_outside_geiq":
            f"FROM app WHERE etat = 'prior_to_hire' "
            f"AND stype NOT IN ({_list(PRIOR_TO_HIRE_STRUCTURES)})",
        # the platform keeps no date for this transition: the generator dates it by creation
        "prior_to_hire_before_introduction":
            f"FROM app WHERE etat = 'prior_to_hire' "
            f"AND date_candidature < {_sql_date(PRIOR_TO_HIRE_START)}",
        "pool_before_introduction":
            f"FROM app WHERE etat = 'pool' AND date_candidature < {_sql_date(POOL_START)}",
        "processed_at_by_state":
            f"FROM app WHERE (etat IN ({processed})) <> (date_traitement IS NOT NULL) "
            f"OR date_traitement < date_candidature OR date_traitement > {as_of}",
        "refusal_reason_by_state":
            "FROM app WHERE (etat = 'refused') <> (motif_refus IS NOT NULL)",
        "refusal_reason_out_of_period":
            "FROM app a JOIN periods p ON p.code = a.motif_refus WHERE a.etat = 'refused' "
            "AND (a.date_traitement < p.start_date OR a.date_traitement >= p.end_date)",
        "auto_refusal_too_early":
            f"FROM app WHERE motif_refus = 'auto' "
            f"AND date_traitement < greatest({auto0}, date_candidature + {delay})",
        # still pending although the job would have refused it: last update at the latest
        # TOUCH_DAYS after creation (never for a new one), not archived when the job came
        "auto_refusal_missed":
            f"FROM (SELECT *, CASE etat WHEN 'new' THEN 0 ELSE {TOUCH_DAYS} END AS touch "
            f"      FROM app WHERE etat IN ({_list(AUTO_REFUSAL_STATES)})) app "
            f"WHERE greatest({auto0}, date_candidature + touch + {delay}) <= {as_of} "
            f"AND greatest({auto0}, date_candidature + {delay}) "
            f"    < greatest({arch0}, date_candidature + {arch_delay}) "
            f"AND NOT EXISTS (SELECT 1 FROM acc WHERE acc.candidat_id = app.candidat_id "
            f"                AND app.date_candidature < acc.accepted_at)",
        "obsolete_without_acceptance":
            "FROM app WHERE etat = 'obsolete' AND NOT EXISTS ("
            "  SELECT 1 FROM acc WHERE acc.candidat_id = app.candidat_id "
            "  AND acc.accepted_at = app.date_traitement "
            "  AND app.date_candidature <= acc.accepted_at)",
        "pending_after_acceptance":
            f"FROM app WHERE etat IN ({pending}) AND EXISTS ("
            f"  SELECT 1 FROM acc WHERE acc.candidat_id = app.candidat_id "
            f"  AND app.date_candidature < acc.accepted_at)",
        "pass_without_accepted_hire":
            "FROM pass p WHERE NOT EXISTS (SELECT 1 FROM acc WHERE acc.candidat_id = "
            "p.candidat_id AND acc.structure_id = p.structure_id "
            "AND acc.date_embauche = p.date_debut)",
        "employer_diagnosis_without_criteria":
            f"FROM diag WHERE auteur_diagnostic = 'employeur' AND ({lvl1}) = 0 "
            f"AND ({lvl2}) < {EMPLOYER_MIN_LEVEL2}",
        "hire_without_valid_diagnosis":
            f"FROM acc WHERE stype IN ({_list(IAE_STRUCTURES)}) AND NOT EXISTS ("
            f"  SELECT 1 FROM diag d WHERE d.candidat_id = acc.candidat_id "
            f"  AND d.date_diagnostic <= acc.accepted_at AND acc.accepted_at < CASE "
            f"    WHEN d.auteur_diagnostic = 'prescripteur' "
            f"    THEN CAST(d.date_diagnostic + INTERVAL {PRESCRIBER_DIAGNOSIS_MONTHS} MONTH "
            f"              AS DATE) "
            f"    ELSE d.date_diagnostic + {EMPLOYER_DIAGNOSIS_DAYS} END)",
    }


def rule_violations(data, as_of=None) -> dict[str, int]:
    """Count, for each rule of the platform, the rows of generated tables that break it.

    Args:
        data: a :class:`~appariement.synth.generate.SynthData`, or a mapping of the platform
            tables ``candidatures``, ``structures``, ``pass_agrements``, ``diagnostics`` (Arrow
            tables or pandas DataFrames).
        as_of: the extract date (default: ``config.last_date`` of a SynthData, else the latest
            date of ``candidatures``).

    Returns:
        ``{rule: number of violating rows}`` for every name of :data:`RULES`.

    Examples:
        >>> from appariement.synth import SynthConfig, generate
        >>> counts = rule_violations(generate(SynthConfig(n_candidates=200, seed=2,
        ...                                               source_ratio=2)))
        >>> sum(counts.values())
        0
    """
    tables = getattr(data, "platform", data)
    if as_of is None and hasattr(data, "config"):
        as_of = data.config.last_date
    con = duckdb.connect()
    try:
        for name in ("candidatures", "structures", "pass_agrements", "diagnostics"):
            con.register(f"raw_{name}", tables[name])
        crit = ", ".join(f"coalesce(critere_{c.lower()}, FALSE) AS critere_{c.lower()}"
                         for c in ELIGIBILITY_CRITERIA_LEVEL1 + ELIGIBILITY_CRITERIA_LEVEL2)
        con.execute(
            "CREATE TEMP VIEW app AS SELECT c.candidature_id, c.candidat_id, c.structure_id, "
            "c.etat, c.motif_refus, s.type AS stype, "
            "CAST(c.date_candidature AS DATE) AS date_candidature, "
            "CAST(c.date_traitement AS DATE) AS date_traitement, "
            "CAST(c.date_embauche AS DATE) AS date_embauche "
            "FROM raw_candidatures c JOIN raw_structures s USING (structure_id)")
        con.execute("CREATE TEMP VIEW acc AS SELECT candidat_id, structure_id, stype, "
                    "date_traitement AS accepted_at, date_embauche FROM app "
                    "WHERE etat = 'accepted'")
        con.execute("CREATE TEMP VIEW pass AS SELECT candidat_id, structure_id, "
                    "CAST(date_debut AS DATE) AS date_debut FROM raw_pass_agrements")
        con.execute(f"CREATE TEMP VIEW diag AS SELECT candidat_id, auteur_diagnostic, "
                    f"CAST(date_diagnostic AS DATE) AS date_diagnostic, {crit} "
                    f"FROM raw_diagnostics")
        far = ("DATE '1900-01-01'", "DATE '2999-12-31'")
        periods = ", ".join(
            f"('{code}', {_sql_date(s) if s is not None else far[0]}, "
            f"{_sql_date(e) if e is not None else far[1]})"
            for code, (s, e) in REASON_PERIODS.items())
        con.execute("CREATE TEMP TABLE periods (code VARCHAR, start_date DATE, end_date DATE)")
        con.execute(f"INSERT INTO periods VALUES {periods}")
        if as_of is None:
            as_of = con.execute("SELECT max(greatest(date_candidature, "
                                "coalesce(date_traitement, date_candidature))) FROM app"
                                ).fetchone()[0]
        as_of_sql = _sql_date(np.datetime64(as_of, "D"))
        return {rule: int(con.execute(f"SELECT count(*) {query}").fetchone()[0])
                for rule, query in _queries(as_of_sql).items()}
    finally:
        con.close()
