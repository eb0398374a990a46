"""Orchestration: draw the world, render the platform extract, the source and the truth."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from .._atomic import write_json, write_parquet
from .._log import get_logger, step
from ..io.contract import (CRITERIA_COLUMNS, ELIGIBILITY_CRITERIA_LEVEL1,
                           ELIGIBILITY_CRITERIA_LEVEL2, PLATFORM_TABLES, SOURCE_TABLES,
                           TableSpec)
from . import _identity, _platform_rules as rules, _reference as ref, _world
from .config import SynthConfig

__all__ = ["SynthData", "generate", "write_synthetic"]

_log = get_logger(__name__)
_ARROW_TYPES = {"VARCHAR": pa.string(), "DATE": pa.date32(), "BOOLEAN": pa.bool_(),
                "DOUBLE": pa.float64(), "BIGINT": pa.int64(), "INTEGER": pa.int32()}
_NAT = np.datetime64("NaT", "D")
#: refusal reasons before / after the revision of 2022-07-26; within an era a reason is drawn
#: only while the platform offered it (``_platform_rules.REASON_PERIODS``: not_mobile from
#: 2021-09-20, poorly_informed 2021-11-04 to 2022-07-26, duplicate from 2022-10-26)
_OLD_REASONS = {"did_not_come": 12, "unavailable": 8, "non_eligible": 8, "eligibility_doubt": 5,
                "incompatible": 12, "prevent_objectives": 5, "approval_expiration_too_close": 1,
                "deactivation": 1, "not_mobile": 5, "poorly_informed": 3, "other": 25}
_NEW_REASONS = {"did_not_come_to_interview": 12, "not_interested": 12, "non_eligible": 5,
                "incompatible": 8, "prevent_objectives": 3, "hired_elsewhere": 8, "training": 4,
                "lacking_skills": 8, "not_mobile": 4, "duplicate": 3, "other": 12}
#: base prevalence of criteria not driven by covariates
_CRITERIA_P = {"ass": 0.05, "aah": 0.05, "detld": 0.2, "ase": 0.02, "deld": 0.2, "th": 0.08,
               "pi": 0.08, "psh_pr": 0.05, "ref_da": 0.02, "zrr": 0.05, "qpv": 0.25,
               "detention_mj": 0.03, "fle": 0.02, "pm": 0.02}


def write_world_tables(out_dir, platform: dict, source: dict, truth: dict) -> Path:
    """Write the ``platform/``, ``source/`` and ``truth/`` tables of a synthetic world (or of
    one of its deliveries) as Parquet files, each atomically; returns the folder."""
    out = Path(out_dir)
    for folder, tables in (("platform", platform), ("source", source), ("truth", truth)):
        for name, table in tables.items():
            write_parquet(out / folder / f"{name}.parquet", table)
    return out


@dataclass
class SynthData:
    """A generated data set.

    Attributes:
        platform: platform tables (``candidats``, ``candidatures``...) as Arrow tables.
        source: ``personnes`` and ``periodes_emploi``.
        truth: ``links`` and ``candidats`` (see the package docstring).
        effect: the planted estimand, its true values and the naive differences.
        config: the configuration used.
        timings: seconds per generation step (not written, so files stay deterministic).
    """

    platform: dict[str, pa.Table]
    source: dict[str, pa.Table]
    truth: dict[str, pa.Table]
    effect: dict
    config: SynthConfig
    timings: dict = dataclasses.field(default_factory=dict)

    def write(self, out_dir) -> Path:
        """Write ``platform/``, ``source/`` and ``truth/`` Parquet files (atomically), plus
        ``truth/effect.json`` and ``truth/config.json``.

        Args:
            out_dir: destination folder (created if needed).

        Returns:
            The destination folder.

        Examples:
            >>> import tempfile
            >>> d = generate(SynthConfig(n_candidates=50, source_ratio=2, seed=1))
            >>> (d.write(tempfile.mkdtemp()) / "truth" / "effect.json").exists()
            True
        """
        out = write_world_tables(out_dir, self.platform, self.source, self.truth)
        write_json(out / "truth" / "effect.json", self.effect)
        write_json(out / "truth" / "config.json", self.config.to_dict())
        return out


def write_synthetic(out_dir, n_candidates: int = 20_000, seed: int = 42, **overrides
                    ) -> SynthData:
    """Generate a data set and write it to ``out_dir``.

    Args:
        out_dir: destination folder.
        n_candidates: number of candidates.
        seed: random seed.
        **overrides: any other :class:`SynthConfig` field (``source_ratio``, rates...).

    Returns:
        The generated :class:`SynthData`.

    Examples:
        >>> import tempfile
        >>> data = write_synthetic(tempfile.mkdtemp(), n_candidates=50, seed=3, source_ratio=2)
        >>> data.platform["candidats"].num_rows
        50
    """
    data = generate(SynthConfig(n_candidates=n_candidates, seed=seed, **overrides))
    data.write(out_dir)
    return data


def generate(cfg: SynthConfig | None = None) -> SynthData:
    """Generate a synthetic platform extract, DARES-like source and ground truth.

    Args:
        cfg: the configuration (defaults to ``SynthConfig()``).

    Returns:
        A :class:`SynthData`.

    Examples:
        >>> data = generate(SynthConfig(n_candidates=100, source_ratio=3, seed=7))
        >>> sorted(data.source)
        ['periodes_emploi', 'personnes']
        >>> sorted(data.effect["att"]) == ["12", "24", "6"]
        True
    """
    cfg = cfg or SynthConfig()
    seeds = np.random.SeedSequence(cfg.seed).spawn(12)
    rngs = [np.random.Generator(np.random.PCG64(s)) for s in seeds]
    timings: dict = {}
    n = cfg.n_candidates
    first, last_t0 = np.datetime64(cfg.first_date, "D"), np.datetime64(cfg.last_t0, "D")
    last_date = np.datetime64(cfg.last_date, "D")

    with step(_log, f"synth: candidates and world ({n} candidates)", timings):
        t0 = first + rngs[0].integers(0, int((last_t0 - first).astype(int)) + 1, n)
        cand = _identity.draw_people(rngs[1], t0, True, cfg)
        structures = _world.make_structures(rngs[2], n)
        orgs = _world.make_organisations(rngs[2], n)
        w = _first_contact(rngs[3], cand, orgs, t0)
        sim = _world.simulate_employment(rngs[3], cfg, t0, w["cov"], last_date)
        employed_any = sim["pre"].any(axis=1) | sim["obs_path"].any(axis=1)
        in_source = rngs[3].random(n) < np.where(employed_any, cfg.in_source_if_employed,
                                                  cfg.in_source_if_never_employed)

    with step(_log, "synth: source persons and NIRs", timings):
        n_other = max(0, int(round(n * cfg.source_ratio)) - int(in_source.sum()))
        others = _identity.draw_people(
            rngs[4], np.full(n_other, np.datetime64("2023-06-30", "D")), False, cfg)
        people = {k: np.concatenate([cand[k], others[k]]) for k in cand}
        _identity.assign_nirs(rngs[5], people)

    with step(_log, "synth: platform identities", timings):
        degraded = cand["dept_res"] == cfg.degraded_departement
        ident, noise = _identity.render_platform(rngs[6], people, np.arange(n), cfg, degraded)
        nir_platform, nir_status = _platform_nir(rngs[7], cfg, people, n, sim["hired_ever"])
        ident["nir"] = nir_platform

    with step(_log, "synth: candidatures and platform tables", timings):
        cands = _candidatures(rngs[8], cfg, t0, sim, w, structures, orgs, cand)
        diags, current = _diagnostics(rngs[9], cfg, t0, w, cand, cands, structures, orgs)
        pass_t, flux_t, hire_struct = _passes(rngs[10], cfg, sim, cands, structures)
        fiches, links_fp = _fiches(rngs[10], structures, cands)

    with step(_log, "synth: source tables", timings):
        source, person_id = _source(rngs[11], cfg, people, n, in_source, sim, structures,
                                    hire_struct)

    candidat_id = _ids("C", n, 8)
    platform = {
        "candidats": _table(PLATFORM_TABLES["candidats"], {
            "candidat_id": candidat_id, **ident,
            "date_inscription": t0 - rngs[3].integers(0, 61, n),
            "type_inscription": np.where(w["origine0"] == "candidat", "autonome", "tiers"),
            **current}),
        "diagnostics": _table(PLATFORM_TABLES["diagnostics"],
                              {**diags, "candidat_id": candidat_id[diags["row"]]}),
        "candidatures": _table(PLATFORM_TABLES["candidatures"],
                               {**cands, "candidat_id": candidat_id[cands["row"]],
                                "structure_id": structures["structure_id"][cands["struct"]],
                                "organisation_id": np.where(
                                    cands["org"] >= 0, orgs["organisation_id"][cands["org"]],
                                    None)}),
        "fiches_de_poste": _table(PLATFORM_TABLES["fiches_de_poste"], fiches),
        "fiches_de_poste_par_candidature": _table(
            PLATFORM_TABLES["fiches_de_poste_par_candidature"],
            {"candidature_id": cands["candidature_id"][links_fp[0]],
             "fiche_id": fiches["fiche_id"][links_fp[1]]}),
        "structures": _table(PLATFORM_TABLES["structures"], structures),
        "organisations": _table(PLATFORM_TABLES["organisations"], orgs),
        "pass_agrements": _table(PLATFORM_TABLES["pass_agrements"],
                                 {**pass_t, "candidat_id": candidat_id[pass_t["row"]]}),
        "flux_iae_salarie": _table(PLATFORM_TABLES["flux_iae_salarie"], flux_t),
    }
    truth, effect = _truth(cfg, candidat_id, person_id, in_source, nir_status, noise, cand,
                           degraded, sim, t0, w, people)
    return SynthData(platform=platform, source=source, truth=truth, effect=effect, config=cfg,
                     timings=timings)


# ---------------------------------------------------------------- helpers

def _ids(prefix: str, n: int, width: int, values=None) -> np.ndarray:
    values = np.arange(n) if values is None else values
    return ref.to_numpy_str(ref.join([np.full(n, prefix, dtype=object), ref.zfill(values, width)]))


def _distinct(rng, high: int, k: int) -> np.ndarray:
    """``k`` distinct integers in [0, high) without materialising a permutation of ``high``."""
    return rng.choice(high, size=k, replace=False) if k else np.zeros(0, dtype=np.int64)


def _table(spec: TableSpec, cols: dict) -> pa.Table:
    arrays = []
    for col in spec.columns:
        if col.name not in cols and col.name in _NOT_GENERATED:
            # optional contract columns this generator does not simulate: all null, as in a
            # file without them (the linkage builds its model from the columns populated)
            arrays.append(pa.nulls(len(next(iter(cols.values()))), _ARROW_TYPES[col.type]))
            continue
        values = cols[col.name]
        typ = _ARROW_TYPES[col.type]
        if typ == pa.date32():
            values = np.asarray(values, dtype="datetime64[D]")
            arrays.append(ref.date_array(values, mask=np.isnat(values)))
        elif isinstance(values, (pa.Array, pa.ChunkedArray)):
            arrays.append(values.cast(typ))
        else:
            arrays.append(pa.array(np.asarray(values, dtype=object) if typ == pa.string()
                                   else values, type=typ))
    return pa.table(arrays, names=list(spec.column_names))


#: optional identity columns of the contract the generator leaves null
_NOT_GENERATED = ("adresse", "commune_residence")


def _first_contact(rng, cand: dict, orgs: dict, t0: np.ndarray) -> dict:
    """Origin, prescriber and covariates at time zero (all derivable from the platform)."""
    n = len(t0)
    origine0 = np.array(["prescripteur", "candidat", "employeur"], dtype=object)[
        rng.choice(3, n, p=[0.6, 0.25, 0.15])]
    org0 = _world.pick_local(rng, orgs["departement"], cand["dept_res"], 0.9)
    org0 = np.where(origine0 == "prescripteur", org0, -1)
    prescriber_type = np.where(org0 >= 0, orgs["type"][np.maximum(org0, 0)], "none")
    age = ((t0 - cand["dob"]).astype(np.int64) / 365.25).astype(np.int64)
    rsa = rng.random(n) < np.where((age >= 26) & (age < 50), 0.42, 0.25)
    cap_bep = rng.random(n) < 0.45
    dep_codes, _ = ref.departements()
    dep_effect = dict(zip(dep_codes.tolist(), rng.normal(0.0, 0.25, len(dep_codes))))
    dept_eff = np.vectorize(dep_effect.get)(cand["dept_res"]).astype(float)
    cov = {"age": age, "male": cand["sex"] == 1, "rsa": rsa, "cap_bep": cap_bep,
           "dept_eff": dept_eff, "prescriber_type": prescriber_type}
    return {"origine0": origine0, "org0": org0, "cov": cov}


def _platform_nir(rng, cfg, people, n, hired_ever) -> tuple[np.ndarray, np.ndarray]:
    """NIR as held by the platform: valid, missing, mistyped, other person's, temporary."""
    true_nir = people["nir"][:n]
    u = rng.random(n)
    p_missing = np.where(hired_ever, cfg.nir_missing_hired, cfg.nir_missing_not_hired)
    cuts = np.stack([p_missing, p_missing + cfg.nir_mistyped,
                     p_missing + cfg.nir_mistyped + cfg.nir_other_person,
                     p_missing + cfg.nir_mistyped + cfg.nir_other_person + cfg.nir_temporary], 1)
    code = (u[:, None] >= cuts).sum(axis=1)
    status = np.array(["missing", "mistyped", "other_person", "temporary", "valid"],
                      dtype=object)[code]
    out = true_nir.copy()
    out[status == "missing"] = None
    digit_pos = np.array([1, 2, 3, 4, 10, 11, 12])
    for i in np.flatnonzero(status == "mistyped"):
        s = true_nir[i]
        pos = int(digit_pos[rng.integers(0, len(digit_pos))])
        new = str((int(s[pos]) + int(rng.integers(1, 10))) % 10)
        out[i] = s[:pos] + new + s[pos + 1:]
    other = np.flatnonzero(status == "other_person")
    if len(other):
        pick = rng.integers(0, len(people["nir"]) - 1, len(other))
        pick = np.where(pick >= other, pick + 1, pick)
        out[other] = people["nir"][pick]
    for i in np.flatnonzero(status == "temporary"):
        s = true_nir[i]
        body = ("7" if s[0] == "1" else "8") + s[1:10] + f"{int(rng.integers(1, 1000)):03d}"
        numeric = int(body.replace("2A", "19").replace("2B", "18"))
        out[i] = body + f"{97 - numeric % 97:02d}"
    return out, status


def _weighted_choice(rng, weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    return np.minimum((cum < u[:, None]).sum(axis=1), weights.shape[1] - 1)


def _candidatures(rng, cfg, t0, sim, w, structures, orgs, cand) -> dict:
    """1-6 candidatures per candidate; hires, then states, processing dates and refusal reasons
    as the platform's rules allow them (:mod:`._platform_rules`, :func:`_apply_platform_rules`).
    """
    n = len(t0)
    last_date = np.datetime64(cfg.last_date, "D")
    counts = rng.choice(6, n, p=[0.35, 0.25, 0.17, 0.11, 0.07, 0.05]) + 1
    counts = np.where(sim["late"], np.maximum(counts, 2), counts)
    row = np.repeat(np.arange(n), counts)
    r = len(row)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    last = first + counts - 1
    seq = np.arange(r) - np.repeat(first, counts)
    hire = sim["hire_date"]
    late_cand = hire - rng.integers(7, 46, n)
    span = np.clip((last_date - t0).astype(np.int64), 1, 720)
    late_span = (np.where(sim["late"], late_cand, t0) - t0).astype(np.int64)
    span = np.where(sim["late"], late_span, span)
    offset = np.where(seq == 0, 0, 1 + np.floor(rng.random(r) * np.maximum(span[row] - 1, 1))
                      ).astype(np.int64)
    offset = offset[np.lexsort((offset, row))]
    late_last = last[sim["late"]]
    offset[late_last] = span[sim["late"]]
    date = t0[row] + offset

    accepted = np.zeros(r, dtype=bool)
    accepted[late_last] = True
    treated_rows = sim["treated"][row] & (date <= hire[row])
    key = np.where(treated_rows, rng.random(r), -1.0)
    order = np.lexsort((key, row))
    chosen = order[last]  # the highest key of each candidate
    accepted[chosen[sim["treated"]]] = True

    # who sent it and where: the states a structure may use depend on its type
    origine = np.array(["prescripteur", "candidat", "employeur"], dtype=object)[
        rng.choice(3, r, p=[0.55, 0.30, 0.15])]
    origine[first] = w["origine0"]
    org = _world.pick_local(rng, orgs["departement"], cand["dept_res"][row], 0.9)
    org = np.where(origine == "prescripteur", org, -1)
    org[first] = w["org0"]
    struct = _world.pick_local(rng, structures["departement"], cand["dept_res"][row], 0.85)
    stype = structures["type"][struct]

    hire_r = hire[row]
    recent = date > last_date - 45
    general = np.array(["refused", "cancelled", "pool", "postponed", "processing", "new"],
                       dtype=object)[rng.choice(6, r, p=[0.86, 0.02, 0.03, 0.03, 0.03, 0.03])]
    pending = np.array(["new", "processing", "postponed", "prior_to_hire", "refused"],
                       dtype=object)[rng.choice(5, r, p=[0.4, 0.35, 0.1, 0.05, 0.1])]
    drawn = np.where(recent, pending, general)
    answer = np.minimum(date + rng.integers(1, 61, r), last_date)  # refusal or cancellation
    touch = date + rng.integers(1, rules.TOUCH_DAYS + 1, r)  # last update, not stored
    # a share of the applications nobody answered once the job refuses them
    unanswered = ((drawn == "refused")
                  & (date + rules.AUTO_REFUSAL_DELAY_DAYS >= rules.AUTO_REFUSAL_START)
                  & (rng.random(r) < 0.2))
    # most applications sent before a hire are still unanswered when it is accepted
    waiting = rng.random(r) < 0.55
    acc_at = np.maximum(date, hire_r - rng.integers(0, 15, r))
    cancel_hire = date + np.floor(rng.random(r) * (answer - date + 1).astype(np.int64)
                                  ).astype(np.int64)
    etat, trait, auto = _apply_platform_rules(
        row, n, date, drawn, unanswered, waiting, answer, touch, accepted, acc_at, stype,
        last_date)
    embauche = np.where(accepted, hire_r, _NAT)
    embauche = np.where(etat == "cancelled", cancel_hire, embauche)

    refused = etat == "refused"
    motif = np.full(r, None, dtype=object)
    no_pos = refused & ~auto & (rng.random(r) < cfg.no_position_share)
    other = refused & ~auto & ~no_pos
    z = (sim["prior_emp"] - sim["prior_emp"].mean())[row]
    for reasons, era in ((_OLD_REASONS, trait < rules.REASONS_REVISED),
                         (_NEW_REASONS, trait >= rules.REASONS_REVISED)):
        sel = np.flatnonzero(other & era)
        names = np.array(list(reasons), dtype=object)
        weights = np.tile(np.array(list(reasons.values()), dtype=float), (len(sel), 1))
        skill = np.isin(names, ["lacking_skills", "incompatible"])
        weights[:, skill] *= np.exp(-1.5 * z[sel])[:, None]
        for j, code in enumerate(names):  # a reason is chosen only while the platform offers it
            weights[:, j] *= rules.reason_available(code, trait[sel])
        motif[sel] = names[_weighted_choice(rng, weights)]
    motif[no_pos] = "no_position"
    motif[auto] = "auto"
    return {"row": row, "candidature_id": _ids("CA", r, 9), "struct": struct, "org": org,
            "date_candidature": date, "origine": origine, "etat": etat, "motif_refus": motif,
            "date_embauche": embauche, "date_traitement": trait, "accepted": accepted}


def _apply_platform_rules(row, n, date, drawn, unanswered, waiting, answer, touch, accepted,
                          acc_at, stype, last_date):
    """States and processing dates at ``last_date`` that follow the platform's rules.

    ``drawn`` is the state the employer's action would give (``unanswered`` ones got none, and
    ``waiting`` ones none before the candidate's hire was accepted); ``answer`` dates a refusal
    or cancellation, ``touch`` the last update of the other pending states, ``acc_at`` the
    acceptance of the ``accepted`` rows. See :mod:`._platform_rules`.

    Returns:
        ``(etat, date_traitement, auto)``, ``auto`` marking the job's refusals.
    """
    r = len(row)
    etat = np.where(unanswered, "new", drawn).astype(object)
    # states introduced later: older applications stay where they were before
    etat[(etat == "pool") & (date < rules.POOL_START)] = "postponed"
    no_prior = ~np.isin(stype, rules.PRIOR_TO_HIRE_STRUCTURES) | (date < rules.PRIOR_TO_HIRE_START)
    etat[(etat == "prior_to_hire") & no_prior] = "processing"
    touch = np.where(etat == "new", date, touch)

    # the auto-refusal job: new/processing untouched for 60 days and not archived by then
    auto_at = rules.auto_refusal_date(touch)
    auto_due = (np.isin(etat, rules.AUTO_REFUSAL_STATES) & (auto_at <= last_date)
                & ~rules.archived_before(touch, auto_at))

    # the hire of the candidate renders every application still pending at that time obsolete
    cand_acc = np.full(n, _NAT)
    cand_acc[row[accepted]] = acc_at[accepted]
    acc_c = cand_acc[row]
    before = ~accepted & ~np.isnat(acc_c) & (date < acc_c)
    refused_then = (etat == "refused") & (answer < acc_c) & ~waiting
    pending_then = ((np.isin(etat, rules.PENDING_STATES) & ~(auto_due & (auto_at < acc_c)))
                    | ((etat == "refused") & ~refused_then))
    obsolete = before & pending_then
    auto = auto_due & ~obsolete & ~accepted

    etat[obsolete] = "obsolete"
    etat[auto] = "refused"
    etat[accepted] = "accepted"
    trait = np.full(r, _NAT)
    answered = np.isin(etat, ["refused", "cancelled"])
    trait[answered] = answer[answered]
    trait[auto] = auto_at[auto]
    trait[obsolete] = acc_c[obsolete]
    trait[accepted] = acc_at[accepted]
    return etat, trait, auto


def _diagnostics(rng, cfg, t0, w, cand, cands, structures, orgs) -> tuple[dict, dict]:
    """Eligibility diagnoses: the first one just before time zero carries the covariates;
    later ones may change criteria; an employer's always has the criteria the platform asks
    for, and an IAE hire that none covers gets one on its acceptance day. ``candidats`` holds
    the latest one (as the platform does)."""
    n = len(t0)
    last_date = np.datetime64(cfg.last_date, "D")
    counts = rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1])
    row = np.repeat(np.arange(n), counts)
    r = len(row)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    seq = np.arange(r) - np.repeat(first, counts)
    offset = np.where(seq == 0, -rng.integers(0, 121, r), rng.integers(150, 700, r))
    offset = offset[np.lexsort((offset, row))]
    date = t0[row] + offset
    keep = (seq == 0) | (date <= last_date)
    cov = w["cov"]
    age_at = ((date - cand["dob"][row]).astype(np.int64) / 365.25).astype(np.int64)
    abroad = cand["born_abroad"][row]
    flags = {}
    for crit in CRITERIA_COLUMNS:
        short = crit.removeprefix("critere_")
        if short == "rsa":
            base = cov["rsa"][row]
        elif short == "cap_bep":
            base = cov["cap_bep"][row]
        elif short == "senior":
            base = age_at >= 50
        elif short == "jeune":
            base = age_at < 26
        else:
            p = _CRITERIA_P[short]
            if short in ("ref_da", "fle"):  # refugees and French learners are born abroad
                p = np.where(abroad, 5.0 * p, p)
            base = rng.random(r) < p
        # the first diagnosis is the person's state at t0; later ones drift
        first_val = base[np.repeat(first, counts)]
        flip = (seq > 0) & (rng.random(r) < (0.25 if short == "rsa" else 0.08))
        if short in ("senior", "jeune"):
            flags[crit] = base
        else:
            flags[crit] = np.where(seq == 0, base, first_val ^ flip)
    auteur = np.where(rng.random(r) < 0.6, "prescripteur", "employeur").astype(object)
    auteur[first] = np.where(w["origine0"] == "prescripteur", "prescripteur", "employeur")
    _complete_employer_criteria(rng, flags, auteur == "employeur")
    kept = np.flatnonzero(keep)
    # an employer's diagnosis counts for that employer only: the first one is taken as made by
    # the structure of the first candidature, later ones by other employers
    first_app = np.unique(cands["row"], return_index=True)[1]
    by_struct = np.where(seq == 0, cands["struct"][first_app][row], -1)
    d = {"row": row[kept], "date": date[kept], "auteur": auteur[kept],
         "struct": by_struct[kept], "flags": {k: v[kept] for k, v in flags.items()}}
    extra = _hire_diagnoses(rng, n, d, cand, cands, structures, orgs)
    merged = {k: np.concatenate([d[k], extra[k]]) for k in ("row", "date", "auteur")}
    is_extra = np.r_[np.zeros(len(kept), dtype=bool), np.ones(len(extra["row"]), dtype=bool)]
    order = np.lexsort((is_extra, merged["date"], merged["row"]))
    merged = {k: v[order] for k, v in merged.items()}
    all_flags = {k: np.concatenate([d["flags"][k], extra["flags"][k]])[order] for k in flags}
    diags = {"row": merged["row"], "diagnostic_id": _ids("D", len(order), 9),
             "date_diagnostic": merged["date"], "auteur_diagnostic": merged["auteur"],
             **all_flags}
    # latest diagnosis per candidate (rows are sorted by candidate then date)
    rk = merged["row"]
    latest = np.flatnonzero(np.r_[rk[1:] != rk[:-1], True])
    current = {"date_diagnostic": merged["date"][latest],
               "auteur_diagnostic": merged["auteur"][latest],
               **{k: v[latest] for k, v in all_flags.items()}}
    return diags, current


def _complete_employer_criteria(rng, flags: dict, employer: np.ndarray) -> None:
    """Give an employer's diagnosis the criteria the platform requires (in place): without a
    level-1 criterion, level-2 ones are added up to three (enough for every SIAE kind), drawn
    by prevalence among those that are not covariates (CAP_BEP) nor ages (SENIOR, JEUNE)."""
    lvl1 = [f"critere_{c.lower()}" for c in ELIGIBILITY_CRITERIA_LEVEL1]
    lvl2 = [f"critere_{c.lower()}" for c in ELIGIBILITY_CRITERIA_LEVEL2]
    pool = [c for c in lvl2 if c not in ("critere_cap_bep", "critere_senior", "critere_jeune")]
    n1 = np.sum([flags[c] for c in lvl1], axis=0)
    n2 = np.sum([flags[c] for c in lvl2], axis=0)
    idx = np.flatnonzero(employer & (n1 == 0) & (n2 < rules.EMPLOYER_MIN_LEVEL2_STRICT))
    prevalence = np.array([_CRITERIA_P[c.removeprefix("critere_")] for c in pool])
    taken = np.stack([flags[c][idx] for c in pool], axis=1)
    # weighted sampling without replacement (Efraimidis-Spirakis keys), absent criteria only
    key = np.where(taken, -np.inf, np.log(rng.random(taken.shape)) / prevalence)
    rank = np.argsort(np.argsort(-key, axis=1), axis=1)
    add = (rank < (rules.EMPLOYER_MIN_LEVEL2_STRICT - n2[idx])[:, None]) & ~taken
    for j, col in enumerate(pool):
        flags[col][idx] |= add[:, j]


def _hire_diagnoses(rng, n, d, cand, cands, structures, orgs) -> dict:
    """A diagnosis on the acceptance day of every IAE hire no diagnosis in ``d`` covers (a
    prescriber's for 6 months, an employer's for 92 days and at that employer only).

    It is the authorised prescriber's when the accepted application came through one, else the
    hiring employer's; its criteria are those of the candidate's latest diagnosis, ages updated.
    """
    acc = np.flatnonzero(cands["accepted"])
    iae = np.isin(structures["type"][cands["struct"][acc]], rules.IAE_STRUCTURES)
    acc = acc[iae]
    h_row = cands["row"][acc]
    accepted_at = np.full(n, _NAT)
    accepted_at[h_row] = cands["date_traitement"][acc]
    hire_struct = np.full(n, -1, dtype=np.int64)
    hire_struct[h_row] = cands["struct"][acc]

    a = accepted_at[d["row"]]
    prescriber = d["auteur"] == "prescripteur"
    valid = ((d["date"] <= a) & (a < rules.diagnosis_expiry(d["date"], prescriber))
             & (prescriber | (d["struct"] == hire_struct[d["row"]])))
    covered = np.zeros(n, dtype=bool)
    covered[d["row"][valid]] = True
    need = acc[~covered[h_row]]
    rows, when = cands["row"][need], cands["date_traitement"][need]

    # the candidate's latest diagnosis on or before that day (the first one always is)
    day = lambda x: x.astype("datetime64[D]").astype(np.int64)  # noqa: E731
    span = 1 << 20
    pos = np.searchsorted(d["row"] * span + day(d["date"]), rows * span + day(when),
                          side="right") - 1
    flags = {k: v[pos].copy() for k, v in d["flags"].items()}
    age = ((when - cand["dob"][rows]).astype(np.int64) / 365.25).astype(np.int64)
    flags["critere_senior"], flags["critere_jeune"] = age >= 50, age < 26
    org = cands["org"][need]
    authorised = (org >= 0) & orgs["habilitee"][np.maximum(org, 0)]
    auteur = np.where(authorised, "prescripteur", "employeur").astype(object)
    _complete_employer_criteria(rng, flags, auteur == "employeur")
    return {"row": rows, "date": when, "auteur": auteur, "flags": flags}


def _passes(rng, cfg, sim, cands, structures):
    """PASS IAE for hires into an SIAE, and the ASP-like flux with the IAE contract."""
    last_date = np.datetime64(cfg.last_date, "D")
    acc = np.flatnonzero(cands["accepted"])
    rows = cands["row"][acc]
    n = len(sim["treated"])
    hire_struct = np.full(n, -1, dtype=np.int64)
    hire_struct[rows] = cands["struct"][acc]
    stype = structures["type"][cands["struct"][acc]]
    siae = np.isin(stype, _world.SIAE_TYPES)
    p_rows, p_struct = rows[siae], cands["struct"][acc][siae]
    k = len(p_rows)
    start = sim["hire_date"][p_rows]
    numero = _ids("99999", k, 7, _distinct(rng, 10**7, k))
    pass_t = {"row": p_rows, "numero": numero, "structure_id": structures["structure_id"][p_struct],
              "date_debut": start, "date_fin": ref.add_months(start, 24) - 1,
              "origine": np.where(rng.random(k) < 0.9, "default", "admin").astype(object)}
    in_flux = rng.random(k) < 0.95
    f = np.flatnonzero(in_flux)
    end = ref.add_months(start[f], sim["contract_months"][p_rows[f]]) - 1
    flux_t = {"salarie_id": _ids("ASP", len(f), 9, _distinct(rng, 10**8, len(f))),
              "numero_pass": numero[f], "siret": structures["siret"][p_struct[f]],
              "date_debut": start[f], "date_fin": np.where(end > last_date, _NAT, end)}
    return pass_t, flux_t, hire_struct


def _fiches(rng, structures, cands):
    """1-4 job descriptions (ROME code) per structure; 0-2 linked to each candidature."""
    s = len(structures["structure_id"])
    counts = rng.integers(1, 5, s)
    srow = np.repeat(np.arange(s), counts)
    k = len(srow)
    fiches = {"fiche_id": _ids("FP", k, 8), "structure_id": structures["structure_id"][srow],
              "code_rome": np.array(_world.ROME_CODES, dtype=object)[
                  rng.integers(0, len(_world.ROME_CODES), k)],
              "type_contrat": np.array(["CDDI", "CDD", "CDI", "FIXED_TERM_I", "APPRENTICESHIP"],
                                       dtype=object)[rng.choice(5, k, p=[.6, .15, .1, .1, .05])],
              "active": rng.random(k) < 0.8}
    start = np.r_[0, np.cumsum(counts)[:-1]]
    st = cands["struct"]
    r = len(st)
    n_links = rng.choice(3, r, p=[0.3, 0.6, 0.1])
    n_links = np.where(counts[st] < 2, np.minimum(n_links, 1), n_links)
    j1 = np.floor(rng.random(r) * counts[st]).astype(np.int64)
    j2 = (j1 + 1) % counts[st]
    one = np.flatnonzero(n_links >= 1)
    two = np.flatnonzero(n_links >= 2)
    cand_idx = np.r_[one, two]
    fiche_idx = np.r_[start[st[one]] + j1[one], start[st[two]] + j2[two]]
    order = np.lexsort((fiche_idx, cand_idx))
    return fiches, (cand_idx[order], fiche_idx[order])


def _source(rng, cfg, people, n, in_source, sim, structures, hire_struct):
    """Source persons (candidates present + others, shuffled) and their employment spells."""
    cand_rows = np.flatnonzero(in_source)
    total = len(people["sex"])
    rows = np.r_[cand_rows, np.arange(n, total)]
    m = len(rows)
    perm = rng.permutation(m)
    pid_of_row = _ids("P", m, 9, perm)
    person_id = np.full(n, None, dtype=object)
    person_id[cand_rows] = pid_of_row[:len(cand_rows)]
    ident = _identity.render_register(rng, people, rows, cfg)
    order = np.argsort(perm)
    personnes = _table(SOURCE_TABLES["personnes"],
                       {"person_id": pid_of_row[order], **{k: v[order] for k, v in ident.items()}})

    cs = _world.spells_from_paths(rng, sim)
    keep = in_source[cs["row"]]
    cs = {k: v[keep] for k, v in cs.items()}
    others = _world.spells_for_others(rng, total - n)
    employers = max(200, m // 20)
    emp_num = ref.luhn_complete(rng.integers(5 * 10**12, 10**13, employers), 14)
    struct_num = np.asarray([int(x) for x in structures["siret"]], dtype=np.int64)
    is_iae = cs["type_contrat"] == "IAE"
    siae = np.isin(structures["type"], _world.SIAE_TYPES)
    hs = hire_struct[cs["row"]]
    stype = structures["type"][np.maximum(hs, 0)]
    ctype = cs["type_contrat"].copy()
    ctype[is_iae] = np.where(siae[np.maximum(hs, 0)][is_iae], "CDDI",
                             np.where(stype[is_iae] == "GEIQ", "APPRENTISSAGE", "CDD"))
    siret = emp_num[rng.integers(0, employers, len(ctype))]
    siret[is_iae] = struct_num[hs[is_iae]]
    # sort keys are numeric: the person's rank in person_id order, start date, SIRET
    rank_of_cand = np.full(n, -1, dtype=np.int64)
    rank_of_cand[cand_rows] = perm[:len(cand_rows)]
    pid_num = np.r_[rank_of_cand[cs["row"]], perm[len(cand_rows) + others["row"]]]
    ctype = np.r_[ctype, others["type_contrat"]]
    start = np.r_[cs["date_debut"], others["date_debut"]]
    end = np.r_[cs["date_fin"], others["date_fin"]]
    open_end = np.r_[cs["open_end"], others["open_end"]]
    siret = np.r_[siret, emp_num[rng.integers(0, employers, len(others["row"]))]]
    k = len(pid_num)
    full_time = rng.random(k) < np.where(ctype == "CDI", 0.7, 0.35)
    heures = np.where(full_time, 151.67, np.round(rng.uniform(40, 151.67, k), 2))
    heures = np.where(ctype == "CDDI", np.round(rng.uniform(80, 130, k), 2), heures)
    wage = 11.65 + rng.exponential(np.where(ctype == "CDDI", 0.3, 3.0))
    order = np.lexsort((siret, start, pid_num))
    # the source is extracted on cfg.source_date: no spell starts after it, and a spell still
    # running then has no end date yet (filtered after every draw: the random streams are kept)
    cut = np.datetime64(cfg.source_date, "D")
    order = order[start[order] <= cut]
    open_end = open_end | (end > cut)
    periodes = _table(SOURCE_TABLES["periodes_emploi"], {
        "person_id": _ids("P", len(order), 9, pid_num[order]), "date_debut": start[order],
        "siret": ref.zfill(siret[order], 14),
        "date_fin": np.where(open_end, _NAT, end)[order], "type_contrat": ctype[order],
        "heures": heures[order], "salaire": np.round(heures * wage, 2)[order]})
    return {"personnes": personnes, "periodes_emploi": periodes}, person_id


def _truth(cfg, candidat_id, person_id, in_source, nir_status, noise, cand, degraded, sim, t0,
           w, people):
    n = len(candidat_id)
    cov = w["cov"]
    cols = {"candidat_id": candidat_id, "person_id": person_id, "in_source": in_source,
            "nir_status": nir_status, "true_nir": people["nir"][:n],
            **{k: v for k, v in noise.items()},
            "born_abroad": cand["born_abroad"], "dob_quality": cand["dob_quality"],
            "origin_group": cand["origin"], "departement": cand["dept_res"],
            "degraded_group": degraded, "sexe": cand["sex"].astype(np.int8),
            "age": cov["age"], "rsa": cov["rsa"], "cap_bep": cov["cap_bep"],
            "prescriber_type": cov["prescriber_type"], "prior_employment": sim["prior_emp"],
            "p_treated": sim["p_hire"], "treated": sim["treated"],
            "hired_ever": sim["hired_ever"], "hired_late": sim["late"],
            "hire_date": sim["hire_date"], "time_zero": t0,
            **{f"y0_{k}": sim["y0"][k] for k in _world.HORIZONS},
            **{f"y1_{k}": sim["y1"][k] for k in _world.HORIZONS},
            **{f"y_{k}": sim["y"][k] for k in _world.HORIZONS},
            **{f"y0_never_{k}": sim["y0_never"][k] for k in _world.HORIZONS}}
    arrays, names = [], []
    for name, values in cols.items():
        values = np.asarray(values)
        if values.dtype.kind == "M":
            arrays.append(ref.date_array(values, mask=np.isnat(values)))
        elif values.dtype == object:
            arrays.append(pa.array(values, type=pa.string()))
        else:
            arrays.append(pa.array(values))
        names.append(name)
    candidats = pa.table(arrays, names=names)
    sel = np.flatnonzero(in_source)
    links = pa.table({"candidat_id": pa.array(candidat_id[sel], pa.string()),
                      "person_id": pa.array(person_id[sel], pa.string())})

    t, ever = sim["treated"], sim["hired_ever"]
    effect = {
        "estimand": "ATT",
        "estimands": {"att": "hired within the grace period versus not hired within it (a "
                              "later hire and its effect allowed in the untreated path)",
                      "att_vs_never": "hired within the grace period versus never hired "
                                       "(untreated path without any later hire)"},
        "treatment": (f"hired (accepted candidature with a contract start date) within "
                      f"{cfg.grace_days} days after time zero"),
        "time_zero": "date of the candidate's first candidature",
        "grace_period_days": cfg.grace_days,
        "outcome": ("employed at time_zero + k months: a periodes_emploi spell covers that date "
                    "(IAE contracts included)"),
        "horizons_months": list(_world.HORIZONS),
        "att": {}, "att_vs_never": {}, "naive_difference": {}, "naive_ever_hired_difference": {},
        "mean_y1_treated": {}, "mean_y0_treated": {},
        "n_candidates": int(n), "n_treated": int(t.sum()), "n_control": int((~t).sum()),
        "n_hired_late": int(sim["late"].sum()), "n_in_source": int(in_source.sum()),
        "covariates": ["age", "sexe", "critere_rsa (first diagnosis, at t0)",
                       "critere_cap_bep (first diagnosis, at t0)",
                       "departement (of residence, from code_postal)",
                       "prescriber_type (organisation type of the first candidature; "
                       "'none' when not prescribed)",
                       "prior_employment (share of the 24 months before t0 covered by a "
                       "periodes_emploi spell)"],
        "selection": "on observed covariates only (no unobserved confounder)",
        "common_random_numbers": True,
    }
    for k in _world.HORIZONS:
        y0, y1, y = sim["y0"][k], sim["y1"][k], sim["y"][k]
        key = str(k)
        effect["att"][key] = round(float((y1[t].astype(float) - y0[t]).mean()), 6)
        effect["att_vs_never"][key] = round(
            float((y1[t].astype(float) - sim["y0_never"][k][t]).mean()), 6)
        effect["mean_y1_treated"][key] = round(float(y1[t].mean()), 6)
        effect["mean_y0_treated"][key] = round(float(y0[t].mean()), 6)
        effect["naive_difference"][key] = round(float(y[t].mean() - y[~t].mean()), 6)
        effect["naive_ever_hired_difference"][key] = round(
            float(y[ever].mean() - y[~ever].mean()), 6)
    if cfg.unobserved_confounder:
        effect["selection"] = ("on observed covariates and a hidden binary trait (prevalence "
                               "1/2) raising the hire and job finding (unobserved_confounder)")
        effect["unobserved_confounder"] = _planted_confounder(cfg, sim)
    return {"links": links, "candidats": candidats}, effect


def _planted_confounder(cfg, sim: dict) -> dict:
    """The hidden trait's strength as risk ratios and an equal-ratio E-value: RR with the hire
    ``max_u P(u | treated) / P(u | not treated)``, RR with the outcome ``P(y0_never | u = 1) /
    P(y0_never | u = 0)`` among the not treated, combined by the Ding-VanderWeele bounding
    factor ``B = RR_EU RR_UY / (RR_EU + RR_UY - 1)``, ``E = B + sqrt(B (B - 1))``."""
    u, t = sim["hidden_trait"], sim["treated"]
    rr_eu = max(u[t].mean() / u[~t].mean(), (~u[t]).mean() / (~u[~t]).mean())
    out = {"strength": float(cfg.unobserved_confounder), "prevalence": 0.5,
           "rr_treatment": round(float(rr_eu), 6), "rr_outcome": {}, "e_value_planted": {}}
    for k in _world.HORIZONS:
        y0 = sim["y0_never"][k][~t]
        rr = y0[u[~t]].mean() / max(y0[~u[~t]].mean(), 1e-9)
        rr = max(rr, 1 / rr)
        b = rr_eu * rr / (rr_eu + rr - 1)
        out["rr_outcome"][str(k)] = round(float(rr), 6)
        out["e_value_planted"][str(k)] = round(float(b + np.sqrt(b * (b - 1))), 6)
    return out
