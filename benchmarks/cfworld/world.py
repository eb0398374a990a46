"""A second evaluation world: persons, candidatures with refusal classes, IAE hires, monthly
employment, and the truth, in the table shapes ``build_evaluation_dataset`` reads.

Written apart from ``appariement.synth`` (it imports nothing from it), month by month:

* each person has covariates (age, sex, a latent prior employability ``a``, a few eligibility
  criteria, recorded by a diagnosis before time zero for 70 %) and 24 months of employment
  before time zero, a Markov chain driven by ``a`` (the hire depends on what is recorded: the
  pre-period months employed, age, sex, the recorded criteria; job finding on ``a`` too);
* time zero is a first candidature in the study window (some people applied before the window
  and were refused: ``n_prior_candidatures``; analyse with ``study_start=STUDY_START``); the
  time-zero candidature is accepted (an IAE hire a few days to ~80 days later, within the
  90-day grace period) with a logistic probability of the recorded covariates, else refused
  with a refusal reason;
* after time zero, employment is a Markov chain (job finding / keeping), the same random numbers
  for every potential path; a hire gives an IAE contract of 6 to 12 months (employed), then a
  higher job-finding probability (the planted effect);
* the truth is the ATT versus never hired: the mean, over the treated, of the path with their
  hire minus the path without any hire (``att_vs_never[h]``), and, for ``later_hires="keep"``,
  versus not hired within the grace period (``att[h]``).

Scenarios (:data:`SCENARIOS`):

* ``observables``: selection on observed covariates only; a few comparison people are hired
  later with a probability of the time-zero covariates alone;
* ``unobserved``: a binary trait ``u`` (prevalence 1/2, never recorded) adds
  ``confounder`` to the logit of the hire and to the logit of finding a job each month;
* ``dynamic``: refused people keep searching while out of work: each month without a job they
  apply again with some probability and may be hired (a later hire, recorded as a candidature);
  people who find another job first stop searching, so who is hired later depends on the
  employment path after time zero (informative censoring unless the monthly history is used);
* ``eligibility``: the comparison arm is the eligibility refusals: an employer refuses for
  eligibility people whose (unrecorded at time zero) situation is better — the criteria are
  checked at the refusal, after time zero — and those people find jobs more easily.

Linkage is perfect: ``links`` maps every candidate to their source person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

SCENARIOS = ("observables", "unobserved", "dynamic", "eligibility")
STUDY_START, STUDY_END = "2022-01-01", "2023-06-30"
PRE, POST = 24, 25  # months before time zero; months 0..24 after it
HORIZONS = (6, 12, 24)
_CRIT = ("critere_rsa", "critere_ass", "critere_aah", "critere_detld", "critere_cap_bep",
         "critere_senior", "critere_jeune", "critere_ase", "critere_deld", "critere_th",
         "critere_pi", "critere_psh_pr", "critere_ref_da", "critere_zrr", "critere_qpv",
         "critere_detention_mj", "critere_fle", "critere_pm")


@dataclass
class World:
    """The tables and the truth of one simulated world."""

    platform: dict
    employment: pd.DataFrame
    links: pd.DataFrame
    truth: dict = field(default_factory=dict)
    #: the planted trait and arm, for the sensitivity check (``unobserved``), by candidat_id
    hidden: pd.DataFrame | None = None


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _add_months(y, m, d, k):
    """Dates ``(y, m, d) + k months`` (days are <= 28, so never clipped)."""
    total = y * 12 + (m - 1) + k
    return pd.to_datetime(pd.DataFrame({"year": total // 12, "month": total % 12 + 1,
                                        "day": d}))


def simulate(scenario: str = "observables", n: int = 4000, seed: int = 0, *,
             confounder: float = 1.0, effect: float = 1.0) -> World:
    """Simulate one world.

    Args:
        scenario: one of :data:`SCENARIOS`.
        n: persons (each has one time-zero candidature in the window).
        seed: random seed.
        confounder: ``unobserved`` only: logit effect of the hidden trait on the hire and on
            finding a job.
        effect: logit boost of the monthly job-finding probability after the IAE contract.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario {scenario!r}; use one of {', '.join(SCENARIOS)}")
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 61, n)
    male = rng.random(n) < 0.55
    a = rng.normal(0.0, 1.0, n)                       # prior employability (observed through
    rsa = rng.random(n) < _expit(-0.6 - 0.5 * a)       # the pre-period path and the criteria)
    detld = rng.random(n) < _expit(-1.0 - 0.6 * a)
    qpv = rng.random(n) < 0.2
    u = (rng.random(n) < 0.5) if scenario == "unobserved" else np.zeros(n, bool)
    gu = confounder if scenario == "unobserved" else 0.0
    # hidden situation checked at an eligibility refusal (eligibility world): better-off people
    better = rng.normal(0.0, 1.0, n)
    gb = 0.6 if scenario == "eligibility" else 0.0

    # time zero: a day <= 28 of a month in 2022-01 .. 2023-06
    t0_month = rng.integers(0, 18, n)
    t0_y, t0_m, t0_d = 2022 + t0_month // 12, t0_month % 12 + 1, rng.integers(1, 29, n)
    t0 = _add_months(t0_y, t0_m, t0_d, 0)

    # employment before time zero (months -24..-1), then out of work at t0 for most
    pre = np.zeros((n, PRE), bool)
    state = rng.random(n) < _expit(0.3 + 0.8 * a)
    for m in range(PRE):
        p = np.where(state, _expit(2.0 + 0.5 * a), _expit(-2.0 + 0.7 * a - 0.3 * rsa))
        state = rng.random(n) < p
        pre[:, m] = state
    s0 = pre[:, -1] & (rng.random(n) < 0.25)           # still employed at t0

    # the hire within the grace period (the treatment)
    senior, young = age >= 50, age < 26
    # the hire depends on what the platform records (pre-period employment, age, sex, the
    # criteria of a diagnosis made before t0) and, in the unobserved world, on the trait
    known = rng.random(n) < 0.7                          # a diagnosis before time zero
    rsa_obs, detld_obs = rsa & known, detld & known
    pre12, pre24 = pre[:, -12:].sum(1), pre.sum(1)
    hire_logit = (-0.9 + 0.12 * pre12 - 0.4 * senior + 0.3 * young - 0.4 * rsa_obs
                  - 0.3 * detld_obs + 0.2 * male + 0.1 * (pre24 - pre12) / 2
                  + gu * (u - 0.5))
    if scenario == "eligibility":
        hire_logit = hire_logit - 0.3
    treated = rng.random(n) < _expit(hire_logit)
    hire_day = rng.integers(3, 81, n)                   # days after t0 (< 90)

    # monthly job finding / keeping without IAE, common random numbers for all paths
    find = -2.0 + 0.6 * a - 0.5 * senior + 0.2 * young - 0.3 * rsa - 0.2 * detld + gu * (u - 0.5) \
        + gb * better
    keep = 2.2 + 0.4 * a
    u_emp = rng.random((n, POST))
    contract = rng.integers(4, 10, n)

    # later hires of the comparison (month index m: hired in (t0 + m, t0 + m + 1])
    # monthly re-application while out of work (recorded covariates only)
    search = _expit(-1.0 + 0.08 * pre12 - 0.3 * senior)
    u_search, u_offer = rng.random((n, POST)), rng.random((n, POST))
    later_static = (rng.random(n) < _expit(-2.5 + 0.1 * pre12)) if scenario == "observables" \
        else np.zeros(n, bool)
    later_static_m = rng.integers(4, 20, n)

    def path(hire_m: np.ndarray, dynamic: bool):
        """Employment at t0 + m months (m = 0..24) given a hire in month ``hire_m`` (-1: at
        t0, within the grace period; 99: none); ``dynamic``: search and later hires."""
        out = np.zeros((n, POST), bool)
        iae = np.zeros((n, POST), bool)
        hired_at = hire_m.copy()
        emp = s0.copy()
        for m in range(POST):
            if m > 0:
                in_iae = (hired_at < m) & (m <= hired_at + contract)
                after = m > hired_at + contract
                p = np.where(emp & ~iae[:, m - 1], _expit(keep),
                             _expit(find + np.where(after, effect, 0.0)))
                emp = in_iae | (u_emp[:, m] < p)
                iae[:, m] = in_iae
            out[:, m] = emp
            if dynamic:
                # out of work and not yet hired: re-apply; an offer is a later hire next month
                looking = ~emp & (hired_at == 99) & (m >= 3)
                offer = looking & (u_search[:, m] < search) & (u_offer[:, m] < 0.35)
                hired_at = np.where(offer, m, hired_at)
        return out, iae, hired_at

    dyn = scenario == "dynamic"
    base_hire = np.where(later_static, later_static_m, 99)
    y1, iae1, _ = path(np.full(n, -1), False)
    y0, iae0, later_m = path(base_hire, dyn)
    y_never, _, _ = path(np.full(n, 99), False)
    y = np.where(treated[:, None], y1, y0)
    iae = np.where(treated[:, None], iae1, iae0)
    later = ~treated & (later_m < 99)
    truth = {"att_vs_never": {h: float(y1[treated, h].mean() - y_never[treated, h].mean())
                              for h in HORIZONS},
             "att": {h: float(y1[treated, h].mean() - y0[treated, h].mean()) for h in HORIZONS}}

    # ---- tables
    ids = np.array([f"W{i:06d}" for i in range(n)], dtype=object)
    pids = np.array([f"Q{i:06d}" for i in range(n)], dtype=object)
    crit = {c: np.zeros(n, bool) for c in _CRIT}
    crit["critere_rsa"], crit["critere_detld"], crit["critere_qpv"] = rsa, detld, qpv
    crit["critere_senior"], crit["critere_jeune"] = senior, young
    if scenario == "eligibility":
        known = np.zeros(n, bool)                        # criteria recorded after time zero
    diag_date = (t0 - pd.to_timedelta(rng.integers(1, 90, n), unit="D")).dt.date
    birth = pd.to_datetime(pd.DataFrame({"year": t0_y - age, "month": 1, "day": 15})).dt.date
    candidats = pd.DataFrame({
        "candidat_id": ids, "nom": "X", "prenoms": "Y", "sexe": np.where(male, "M", "F"),
        "date_naissance": birth.astype(str), "code_postal": np.where(qpv, "93200", "69003"),
        "date_inscription": (t0 - pd.to_timedelta(rng.integers(0, 400, n), unit="D")).dt.date,
        "type_inscription": "tiers",
        **{c: np.where(known, v, False) for c, v in crit.items()},
        "date_diagnostic": np.where(known, diag_date, None)})

    # candidatures: prior (before the window, refused), time zero, later ones (dynamic)
    rows = []
    prior = rng.random(n) < 0.3
    for i in np.flatnonzero(prior):
        # before the study window (which opens on 2022-01-01)
        d = (pd.Timestamp("2021-01-01") + pd.Timedelta(days=int(rng.integers(0, 330)))).date()
        rows.append((i, d, "refused", "no_position", None, d + pd.Timedelta(days=20)))
    if scenario == "eligibility":
        # refusals for eligibility go to the better-off (checked at the refusal)
        p_elig = _expit(-0.5 + 1.5 * better)
    else:
        p_elig = np.full(n, 0.15)
    u_motif = rng.random(n)
    for i in range(n):
        d = t0[i].date()
        if treated[i]:
            rows.append((i, d, "accepted", None, d + pd.Timedelta(days=int(hire_day[i])),
                         d + pd.Timedelta(days=int(hire_day[i]))))
            continue
        if u_motif[i] < p_elig[i]:
            motif = "non_eligible"
        elif u_motif[i] < p_elig[i] + (1 - p_elig[i]) * 0.6:
            motif = "no_position"
        else:
            motif = "did_not_come"
        rows.append((i, d, "refused", motif, None, d + pd.Timedelta(days=30)))
    month_start = {m: _add_months(t0_y, t0_m, t0_d, m) for m in range(POST)}
    for i in np.flatnonzero(later):
        m = int(later_m[i])
        start = month_start[m][i].date()
        cand = start + pd.Timedelta(days=int(rng.integers(1, 10)))
        hire = start + pd.Timedelta(days=int(rng.integers(12, 27)))
        rows.append((i, cand, "accepted", None, hire, hire))
    if dyn:  # re-applications that were refused (the search itself is on the platform)
        looked = (~y0[:, :-1]) & ~treated[:, None] & (np.arange(POST - 1) >= 3) \
            & (u_search[:, :-1] < search[:, None]) & ~(u_offer[:, :-1] < 0.35)
        for i, m in zip(*np.nonzero(looked)):
            if later[i] and m >= later_m[i]:
                continue
            cand = month_start[int(m)][i].date() + pd.Timedelta(days=int(rng.integers(1, 10)))
            rows.append((i, cand, "refused", "no_position", None, cand + pd.Timedelta(days=25)))
    app = pd.DataFrame(rows, columns=["row", "date_candidature", "etat", "motif_refus",
                                      "date_embauche", "date_traitement"])
    app = app.sort_values(["row", "date_candidature"], kind="stable").reset_index(drop=True)
    candidatures = pd.DataFrame({
        "candidature_id": [f"K{i:07d}" for i in range(len(app))],
        "candidat_id": ids[app["row"].to_numpy()], "structure_id": "S1",
        "date_candidature": app["date_candidature"], "origine": "prescripteur",
        "organisation_id": "O1", "etat": app["etat"], "motif_refus": app["motif_refus"],
        "date_embauche": app["date_embauche"], "date_traitement": app["date_traitement"]})
    platform = {"candidats": candidats, "candidatures": candidatures,
                "structures": pd.DataFrame({"structure_id": ["S1"], "type": ["ACI"],
                                            "departement": ["69"]}),
                "organisations": pd.DataFrame({"organisation_id": ["O1"], "type": ["FT"]})}

    # employment spells: runs of employed months (IAE months as their own CDDI spell)
    status = np.concatenate([pre, y], axis=1)            # months -24..24
    kind = np.concatenate([np.zeros_like(pre), iae], axis=1)
    spells = []
    months = np.arange(-PRE, POST)
    for flag_iae in (False, True):
        st = status & (kind == flag_iae)
        prev = np.concatenate([np.zeros((n, 1), bool), st[:, :-1]], axis=1)
        nxt = np.concatenate([st[:, 1:], np.zeros((n, 1), bool)], axis=1)
        si, sm = np.nonzero(st & ~prev)
        ei, em = np.nonzero(st & ~nxt)
        start = _add_months(t0_y[si], t0_m[si], t0_d[si], months[sm]) - pd.Timedelta(days=5)
        end = _add_months(t0_y[ei], t0_m[ei], t0_d[ei], months[em] + 1) - pd.Timedelta(days=1)
        spells.append(pd.DataFrame({
            "person_id": pids[si], "date_debut": start.dt.date.to_numpy(),
            "date_fin": end.dt.date.to_numpy(), "siret": "1",
            "type_contrat": "CDDI" if flag_iae else "CDD", "heures": 151.67,
            "salaire": 1500.0}))
    employment = pd.concat(spells, ignore_index=True)
    links = pd.DataFrame({"candidat_id": ids, "person_id": pids, "decision": "match",
                          "match_probability": 1.0})
    hidden = pd.DataFrame({"candidat_id": ids, "u": u, "treated": treated,
                           "later_hire": later, "y0_never_12": y_never[:, 12],
                           "y1_12": y1[:, 12]})
    return World(platform=platform, employment=employment, links=links, truth=truth,
                 hidden=hidden)
