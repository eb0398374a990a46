"""Employment histories, hires and the planted effect, and the platform's activity tables.

See the package docstring for the design. All draws are vectorised over candidates; the monthly
Markov chains loop over 60 months, not over people.
"""

from __future__ import annotations

import numpy as np

from . import _reference as ref

HORIZONS = (6, 12, 24)
PRE_MONTHS = 24
POST_MONTHS = 36
SIAE_TYPES = ("ACI", "AI", "EI", "ETTI", "EITI")
STRUCTURE_TYPE_P = {"ACI": 0.42, "AI": 0.20, "EI": 0.15, "ETTI": 0.08, "EITI": 0.03,
                    "GEIQ": 0.06, "EA": 0.06}
ORG_TYPE_P = {"FT": 0.45, "ML": 0.20, "CAP_EMPLOI": 0.05, "DEPT": 0.08, "SPIP": 0.04,
              "PJJ": 0.01, "CHRS": 0.05, "CCAS": 0.04, "PLIE": 0.04, "CAF": 0.01, "OTHER": 0.03}
HABILITATED = ("FT", "ML", "CAP_EMPLOI", "DEPT", "SPIP", "PJJ")
#: effect of the prescriber type (of the first candidature) on hiring and on employment
PRESCRIBER_HIRE = {"none": -0.3, "FT": 0.3, "ML": 0.3, "CAP_EMPLOI": 0.2, "DEPT": 0.2,
                   "SPIP": 0.0, "PJJ": 0.0}
PRESCRIBER_JOB = {"none": 0.1, "FT": 0.0, "ML": 0.1, "CAP_EMPLOI": -0.2, "DEPT": -0.2,
                  "SPIP": -0.3, "PJJ": -0.1}
ROME_CODES = ("K2204", "N1103", "A1203", "F1704", "G1603", "H2102", "K2304", "N4105", "G1502",
              "I1203", "K1304", "A1414", "F1602", "N1105", "H3302", "D1106", "K2303", "G1605")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_structures(rng, n_candidates: int) -> dict:
    n = max(20, n_candidates // 25)
    types = np.array(list(STRUCTURE_TYPE_P), dtype=object)[
        rng.choice(len(STRUCTURE_TYPE_P), n, p=list(STRUCTURE_TYPE_P.values()))]
    dep_codes, dep_p = ref.departements()
    body = rng.integers(10**12, 5 * 10**12, size=n)  # SIRET bodies of SIAE start 1-4
    siret = ref.to_numpy_str(ref.zfill(ref.luhn_complete(body, 14), 14))
    return {"structure_id": np.array([f"S{i:07d}" for i in range(n)], dtype=object),
            "siret": siret, "type": types, "departement": ref.choose(rng, dep_codes, dep_p, n)}


def make_organisations(rng, n_candidates: int) -> dict:
    n = max(20, n_candidates // 40)
    types = np.array(list(ORG_TYPE_P), dtype=object)[
        rng.choice(len(ORG_TYPE_P), n, p=list(ORG_TYPE_P.values()))]
    habilitee = np.isin(types, HABILITATED) | (rng.random(n) < 0.4)
    dep_codes, dep_p = ref.departements()
    return {"organisation_id": np.array([f"O{i:06d}" for i in range(n)], dtype=object),
            "type": types, "habilitee": habilitee,
            "departement": ref.choose(rng, dep_codes, dep_p, n)}


def pick_local(rng, item_dept: np.ndarray, target_dept: np.ndarray, p_local: float) -> np.ndarray:
    """Index of an item (structure, organisation) in the target's département with probability
    ``p_local`` (when there is one), else any item."""
    n_items, n = len(item_dept), len(target_dept)
    order = np.argsort(item_dept.astype(str), kind="stable")
    sorted_dept = item_dept[order].astype(str)
    target = target_dept.astype(str)
    lo = np.searchsorted(sorted_dept, target, side="left")
    hi = np.searchsorted(sorted_dept, target, side="right")
    count = hi - lo
    local = (count > 0) & (rng.random(n) < p_local)
    pick = rng.integers(0, n_items, size=n)
    within = lo + np.floor(rng.random(n) * np.maximum(count, 1)).astype(np.int64)
    return np.where(local, order[np.minimum(within, n_items - 1)], pick)


def simulate_employment(rng, cfg, t0: np.ndarray, cov: dict, last_date: np.datetime64) -> dict:
    """Monthly employment paths, hires and potential outcomes of candidates.

    Args:
        rng: random generator.
        cfg: the SynthConfig.
        t0: datetime64[D] time zero (first candidature) of each candidate.
        cov: covariates (age, male, cap_bep, rsa, dept_eff, prescriber_type).
        last_date: end of the platform extract; later hires (after the grace period) happen
            only before it.

    Returns:
        dict with treated, hire dates, late hires, contract months, the observed and potential
        monthly paths, IAE masks, evaluation dates and outcomes at the horizons: ``y1`` (hired
        within the grace period), ``y0`` (not hired within it: includes a possible later hire
        and its effect) and ``y0_never`` (never hired: no later hire either).
    """
    n = len(t0)
    senior = (cov["age"] >= 50).astype(float)
    young = (cov["age"] < 26).astype(float)
    rsa, cap, male = (cov[k].astype(float) for k in ("rsa", "cap_bep", "male"))
    presc_job = np.vectorize(PRESCRIBER_JOB.get)(cov["prescriber_type"], 0.0).astype(float)
    presc_hire = np.vectorize(PRESCRIBER_HIRE.get)(cov["prescriber_type"], 0.0).astype(float)
    dept_eff = cov["dept_eff"]

    months = np.arange(-PRE_MONTHS, POST_MONTHS + 1)
    eval_dates = np.stack([ref.add_months(t0, m) for m in months], axis=1)  # [n, 61]

    # pre-period: prior employment, then a dip at time zero (people apply when out of work)
    pre = np.zeros((n, PRE_MONTHS), dtype=bool)
    u_pre = rng.random((n, PRE_MONTHS))
    state = u_pre[:, 0] < _sigmoid(0.2 - 0.6 * rsa - 0.4 * cap - 0.3 * senior + dept_eff)
    pre_ue = _sigmoid(-2.2 - 0.4 * rsa - 0.3 * cap - 0.4 * senior + dept_eff)
    pre_ee = _sigmoid(2.3 - 0.3 * rsa - 0.2 * cap)
    pre[:, 0] = state
    for m in range(1, PRE_MONTHS):
        state = np.where(state, u_pre[:, m] < pre_ee, u_pre[:, m] < pre_ue)
        pre[:, m] = state
    prior_emp = pre.mean(axis=1)
    s0 = pre[:, -1] & (rng.random(n) < 0.3)

    ue = (-3.0 - 0.5 * rsa - 0.3 * cap - 0.6 * senior + 0.2 * young + 0.15 * male
          + dept_eff + presc_job + 1.2 * prior_emp)
    ee = 2.4 - 0.3 * rsa - 0.2 * cap + 0.5 * prior_emp
    hire_logit = (cfg.hire_intercept + 1.2 * prior_emp - 0.5 * senior + 0.3 * young - 0.3 * rsa
                  + 0.2 * male + presc_hire + 0.5 * dept_eff)
    trait = np.zeros(n, dtype=bool)
    if cfg.unobserved_confounder:
        # the hidden trait has its own random stream: the default world is unchanged
        trait = np.random.default_rng([cfg.seed, 918273]).random(n) < 0.5
        shift = cfg.unobserved_confounder * (trait - 0.5)
        hire_logit = hire_logit + shift
        ue = ue + shift
    p_hire = _sigmoid(hire_logit)
    treated = rng.random(n) < p_hire
    delay = np.minimum(rng.exponential(30.0, n).astype(np.int64), cfg.grace_days)
    hire_date = t0 + delay
    late = rng.random(n) < _sigmoid(hire_logit + cfg.late_hire_shift)
    late_month = rng.integers(4, 19, n)
    late_date = ref.add_months(t0, late_month) + rng.integers(0, 20, n)
    late_date = np.maximum(late_date, t0 + cfg.grace_days + 1)
    late &= late_date <= last_date - 1
    contract_months = np.clip(np.round(np.exp(rng.normal(np.log(9), 0.5, n))), 4, 24).astype(
        np.int64)

    u_post = rng.random((n, POST_MONTHS))  # common random numbers for both potential paths
    post_dates = eval_dates[:, PRE_MONTHS:PRE_MONTHS + POST_MONTHS]

    def path(hired: np.ndarray, start: np.ndarray):
        end = ref.add_months(start, contract_months)
        in_iae = hired[:, None] & (post_dates >= start[:, None]) & (post_dates < end[:, None])
        after = hired[:, None] & (post_dates >= end[:, None])
        out = np.zeros((n, POST_MONTHS), dtype=bool)
        state = s0 | in_iae[:, 0]
        out[:, 0] = state
        for m in range(1, POST_MONTHS):
            exit_now = in_iae[:, m - 1] & ~in_iae[:, m]
            boost = np.where(after[:, m], cfg.effect_post_logit, 0.0)
            p = np.where(exit_now, _sigmoid(ue + cfg.effect_exit_logit),
                         np.where(state, _sigmoid(ee + boost), _sigmoid(ue + boost)))
            state = in_iae[:, m] | (u_post[:, m] < p)
            out[:, m] = state
        return out, in_iae

    y0_path, iae0 = path(late, late_date)
    y1_path, iae1 = path(np.ones(n, dtype=bool), hire_date)
    # never hired at all: same random numbers, no later hire and so no later-hire effect
    y0_never_path, _ = path(np.zeros(n, dtype=bool), late_date)
    obs_path = np.where(treated[:, None], y1_path, y0_path)
    obs_iae = np.where(treated[:, None], iae1, iae0)
    hired_obs = treated | late
    obs_hire_date = np.where(treated, hire_date, np.where(late, late_date,
                                                          np.datetime64("NaT", "D")))
    return {"treated": treated, "late": late & ~treated, "hired_ever": hired_obs,
            "p_hire": p_hire, "hire_date": obs_hire_date, "contract_months": contract_months,
            "prior_emp": prior_emp, "pre": pre, "obs_path": obs_path, "obs_iae": obs_iae,
            "eval_dates": eval_dates,
            "y0": {k: y0_path[:, k] for k in HORIZONS}, "y1": {k: y1_path[:, k] for k in HORIZONS},
            "y0_never": {k: y0_never_path[:, k] for k in HORIZONS}, "hidden_trait": trait,
            "y": {k: obs_path[:, k] for k in HORIZONS}}


def spells_from_paths(rng, sim: dict) -> dict:
    """Employment spells of candidates from their monthly paths (non-IAE runs + IAE contract).

    A run of employed months m_a..m_b gives a spell from ``t0 + m_a months`` (up to 10 days
    earlier) to ``t0 + (m_b + 1) months - 1 day`` (up to 10 days earlier), so a date
    ``t0 + k months`` is covered exactly when month k is employed. Long runs are split into
    successive jobs.
    """
    status = np.concatenate([sim["pre"], sim["obs_path"] & ~sim["obs_iae"]], axis=1)
    n, width = status.shape
    prev = np.concatenate([np.zeros((n, 1), bool), status[:, :-1]], axis=1)
    new_job = rng.random((n, width)) < 0.05
    starts = status & (~prev | new_job)
    nxt_start = np.concatenate([starts[:, 1:], np.ones((n, 1), bool)], axis=1)
    nxt = np.concatenate([status[:, 1:], np.zeros((n, 1), bool)], axis=1)
    ends = status & (~nxt | nxt_start)
    si, sm = np.nonzero(starts)
    ei, em = np.nonzero(ends)
    dates = sim["eval_dates"]
    k = len(si)
    start = dates[si, sm] - rng.integers(0, 11, k)
    end = dates[ei, em + 1] - 1 - rng.integers(0, 11, k)
    ctype = np.array(["CDI", "CDD", "INTERIM", "APPRENTISSAGE", "AUTRE"], dtype=object)[
        rng.choice(5, k, p=[0.25, 0.40, 0.28, 0.03, 0.04])]
    open_end = (em == width - 1) & (ctype == "CDI") & (rng.random(k) < 0.7)
    hired = ~np.isnat(sim["hire_date"])
    hi = np.flatnonzero(hired)
    iae_start = sim["hire_date"][hi]
    iae_end = ref.add_months(iae_start, sim["contract_months"][hi]) - 1
    return {"row": np.r_[si, hi], "date_debut": np.r_[start, iae_start],
            "date_fin": np.r_[end, iae_end], "open_end": np.r_[open_end, np.zeros(len(hi), bool)],
            "type_contrat": np.r_[ctype, np.full(len(hi), "IAE", dtype=object)]}


def spells_for_others(rng, n: int) -> dict:
    """Cheap spells for source persons who are not candidates (2019-2028)."""
    counts = rng.poisson(1.8, n)
    row = np.repeat(np.arange(n), counts)
    k = len(row)
    gaps = rng.exponential(220.0, k).astype(np.int64) + 1
    durations = rng.exponential(320.0, k).astype(np.int64) + 20
    # cumulative position within each person: start_i = base + sum(gaps + durations) before it
    steps = gaps + durations
    csum = np.cumsum(steps)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    offset = np.repeat(csum[first[counts > 0]] - steps[first[counts > 0]], counts[counts > 0])
    base = np.datetime64("2019-01-01") + np.repeat(rng.integers(0, 700, n), counts)
    start = base + (csum - offset - durations)
    end = start + durations
    ctype = np.array(["CDI", "CDD", "INTERIM", "APPRENTISSAGE", "AUTRE"], dtype=object)[
        rng.choice(5, k, p=[0.40, 0.32, 0.20, 0.04, 0.04])]
    open_end = (ctype == "CDI") & (rng.random(k) < 0.5)
    return {"row": row, "date_debut": start, "date_fin": end, "open_end": open_end,
            "type_contrat": ctype}
