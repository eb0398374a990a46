"""Invariants of the synthetic generator (small N)."""

from __future__ import annotations

import hashlib
import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from stdnum.fr import nir as stdnir

from appariement.cli import main as cli_main
from appariement.errors import ConfigError
from appariement.io.contract import PLATFORM_TABLES, SOURCE_TABLES
from appariement.synth import SynthConfig, generate, write_synthetic
from appariement.synth import _reference as ref

N = 2000
_TYPES = {"VARCHAR": pa.string(), "DATE": pa.date32(), "BOOLEAN": pa.bool_(),
          "DOUBLE": pa.float64()}


@pytest.fixture(scope="module")
def data():
    return generate(SynthConfig(n_candidates=N, source_ratio=5.0, seed=11))


@pytest.fixture(scope="module")
def con(data):
    c = duckdb.connect()
    for tables in (data.platform, data.source):
        for name, table in tables.items():
            c.register(name, table)
    c.register("truth", data.truth["candidats"])
    c.register("links", data.truth["links"])
    return c


def test_every_contract_column_with_declared_type(data):
    for specs, tables in ((PLATFORM_TABLES, data.platform), (SOURCE_TABLES, data.source)):
        assert set(specs) == set(tables)
        for name, spec in specs.items():
            table = tables[name]
            assert table.column_names == list(spec.column_names), name
            for col in spec.columns:
                assert table.schema.field(col.name).type == _TYPES[col.type], (name, col.name)
                if not col.nullable:
                    assert table.column(col.name).null_count == 0, (name, col.name)
                if col.allowed:
                    values = set(table.column(col.name).drop_null().to_pylist())
                    assert values <= set(col.allowed), (name, col.name, values - set(col.allowed))


def test_keys_unique_and_references_valid(data, con):
    for specs in (PLATFORM_TABLES, SOURCE_TABLES):
        for name, spec in specs.items():
            keys = ", ".join(spec.key)
            dup = con.execute(f"SELECT count(*) FROM (SELECT {keys} FROM {name} GROUP BY {keys} "
                              f"HAVING count(*) > 1)").fetchone()[0]
            assert dup == 0, name
            for col, (other, other_col) in spec.references.items():
                missing = con.execute(
                    f"SELECT count(*) FROM {name} a ANTI JOIN {other} b "
                    f"ON a.{col} = b.{other_col} WHERE a.{col} IS NOT NULL").fetchone()[0]
                assert missing == 0, (name, col)


def test_source_size_and_coverage(data):
    cfg = data.config
    assert data.source["personnes"].num_rows == round(N * cfg.source_ratio)
    in_source = np.asarray(data.truth["candidats"].column("in_source"))
    assert 0.85 < in_source.mean() < 1.0


def test_nir_status_and_keys(data):
    t = data.truth["candidats"].to_pandas()
    c = data.platform["candidats"].to_pandas()
    assert (t.candidat_id.values == c.candidat_id.values).all()
    status, nir, true_nir = t.nir_status.values, c.nir.values, t.true_nir.values
    assert all(stdnir.is_valid(x) for x in true_nir)
    assert all(stdnir.is_valid(x) and x == y for x, y in
               zip(nir[status == "valid"], true_nir[status == "valid"]))
    assert not any(stdnir.is_valid(x) for x in nir[status == "mistyped"])
    assert pd.isna(nir[status == "missing"]).all()
    other = status == "other_person"
    assert all(stdnir.is_valid(x) and x != y for x, y in zip(nir[other], true_nir[other]))
    temp = nir[status == "temporary"]
    assert len(temp) and all(x[0] in "78" and stdnir.is_valid(x) for x in temp)
    assert len(set(true_nir)) == len(true_nir)
    # NIR missing more often among never-hired candidates
    hired = t.hired_ever.values
    assert (status[~hired] == "missing").mean() > 2 * (status[hired] == "missing").mean()


def test_vectorised_key_matches_stdnum():
    rng = np.random.default_rng(0)
    n = 300
    place = np.array([rng.choice(["2A004", "2B033", "75056", "97411", "99350"]) for _ in range(n)],
                     dtype=object)
    sex, yy, mm = rng.integers(1, 3, n), rng.integers(0, 100, n), rng.integers(1, 13, n)
    order = rng.integers(1, 1000, n)
    text, _ = ref.nir_strings(sex, yy, mm, place, order)
    for s in text.to_pylist():
        assert s[13:] == stdnir.calc_check_digits(s)


def test_nir_consistent_with_register_traits(data):
    p = data.source["personnes"].to_pandas()
    p = p[p.nir.notna()]
    assert (p.nir.str[0] == p.sexe).all()
    assert (p.nir.str[1:3] == p.date_naissance.str[2:4]).all()
    place = p.commune_naissance.fillna(p.pays_naissance)
    assert (p.nir.str[5:10] == place).all()
    abroad = p.pays_naissance.notna()
    assert abroad.any() and (p.nir[abroad].str[5:7] == "99").all()
    assert p.nir.map(stdnir.is_valid).all()


def test_truth_links_consistent(data, con):
    t = data.truth["candidats"]
    links = data.truth["links"]
    assert links.num_rows == sum(t.column("in_source").to_pylist())
    bad = con.execute("""
        SELECT count(*) FROM links l JOIN truth t USING (candidat_id)
        JOIN personnes p ON p.person_id = l.person_id
        WHERE t.person_id <> l.person_id OR (p.nir IS NOT NULL AND p.nir <> t.true_nir)
           OR p.sexe <> CAST(t.sexe AS VARCHAR)""").fetchone()[0]
    assert bad == 0
    assert con.execute("SELECT count(DISTINCT person_id) = count(*) FROM links").fetchone()[0]
    assert con.execute("SELECT count(*) FROM truth WHERE NOT in_source AND person_id IS NOT NULL"
                       ).fetchone()[0] == 0


def test_outcomes_match_spells(con):
    """y_k is 1 exactly when a source spell covers time_zero + k months."""
    for k in (6, 12, 24):
        mismatch = con.execute(f"""
            WITH cov AS (
              SELECT t.candidat_id, bool_or(e.person_id IS NOT NULL) AS covered
              FROM truth t LEFT JOIN periodes_emploi e ON e.person_id = t.person_id
                AND e.date_debut <= t.time_zero + INTERVAL {k} MONTH
                AND (e.date_fin IS NULL OR e.date_fin >= t.time_zero + INTERVAL {k} MONTH)
              WHERE t.in_source GROUP BY t.candidat_id)
            SELECT count(*) FROM cov JOIN truth USING (candidat_id) WHERE covered <> y_{k}
        """).fetchone()[0]
        assert mismatch == 0, k


def test_planted_effect_selection_and_bias(data):
    t = data.truth["candidats"].to_pandas()
    eff = data.effect
    treated = t.treated.values
    for k in ("6", "12", "24"):
        att = (t[f"y1_{k}"].astype(float) - t[f"y0_{k}"])[treated].mean()
        assert att == pytest.approx(eff["att"][k], abs=1e-5)
        assert att > 0
        assert abs(eff["naive_difference"][k] - att) > 0.02
    # selection on covariates: the hired had more prior employment and less RSA
    assert t.prior_employment[treated].mean() > t.prior_employment[~treated].mean() + 0.05
    assert t.rsa[treated].mean() < t.rsa[~treated].mean()
    # observed outcome = the potential outcome of the observed arm
    y_obs = np.where(treated, t.y1_12, t.y0_12)
    assert (y_obs == t.y_12.values).all()


def test_never_hired_potential_outcome_and_att_vs_never(data):
    """y0_never: the untreated path without the later hire (same random numbers as y0)."""
    t = data.truth["candidats"].to_pandas()
    eff = data.effect
    treated, late = t.treated.values, t.hired_late.values
    # late hires were drawn for everyone (hired_late is only observed for the untreated)
    for k in ("6", "12", "24"):
        never = t[f"y0_never_{k}"].values
        att_never = (t[f"y1_{k}"].astype(float) - never)[treated].mean()
        assert att_never == pytest.approx(eff["att_vs_never"][k], abs=1e-5)
        # observed untreated people never hired: their y0 is their never-hired path
        quiet = ~treated & ~late & ~t.hired_ever.values
        assert (never[quiet] == t[f"y0_{k}"].values[quiet]).all()
    # a later hire has a positive effect, so removing it lowers y0: att_vs_never >= att
    assert eff["att_vs_never"]["24"] > eff["att"]["24"] + 0.005
    assert (t.y0_never_24.values <= t.y0_24.values).mean() > 0.97
    assert set(eff["estimands"]) == {"att", "att_vs_never"}


def test_adjustment_recovers_effect_better_than_naive(data):
    """Outcome regression on the selection covariates, fitted on controls, predicts y0 of the
    treated; it must be closer to the true ATT than the naive difference."""
    t = data.truth["candidats"].to_pandas()
    x = np.column_stack([np.ones(len(t)), t.prior_employment, t.rsa, t.cap_bep,
                         t.age >= 50, t.age < 26, t.sexe == 1,
                         *(t.prescriber_type == v for v in sorted(set(t.prescriber_type)))]
                        ).astype(float)
    treated = t.treated.values
    late = t.hired_late.values
    y = t.y_24.values.astype(float)
    ctrl = ~treated
    beta, *_ = np.linalg.lstsq(x[ctrl], y[ctrl], rcond=None)
    adjusted = (y[treated] - x[treated] @ beta).mean()
    att, naive = data.effect["att"]["24"], data.effect["naive_difference"]["24"]
    assert late.sum() > 0
    assert abs(adjusted - att) < abs(naive - att)


def test_identity_noise_realistic(data, con):
    c = data.platform["candidats"].to_pandas()
    sexes = set(c.sexe.dropna())
    assert {"1", "2", "M", "F", "H", "HOMME", "FEMME"} <= sexes
    dob = c.date_naissance.dropna()
    assert dob.str.match(r"^\d{2}/\d{2}/\d{4}$").mean() > 0.3
    assert dob.str.match(r"^\d{4}-\d{2}-\d{2}$").mean() > 0.1
    assert dob.str.match(r"^\d{8}$").any() and dob.str.match(r"^00/").any()
    assert c.nom.str.contains(" épouse | née ", case=False).any()
    assert c.prenoms.str.contains(" ").any() and c.prenoms.str.contains("-").any()
    assert c.nom.str.contains("[a-zé]").any() and c.nom.str.contains("[ÉÈ]|é").any()
    # naive exact agreement on (name, first names, birth date) is clearly imperfect
    agree = con.execute("""
        SELECT avg(CASE WHEN upper(c.nom) = p.nom_naissance AND upper(c.prenoms) = p.prenoms
                         AND c.date_naissance = p.date_naissance THEN 1 ELSE 0 END)
        FROM links l JOIN candidats c USING (candidat_id) JOIN personnes p USING (person_id)
    """).fetchone()[0]
    assert agree < 0.9


def test_noise_rates_and_degraded_group():
    data = generate(SynthConfig(n_candidates=3000, source_ratio=1.0, seed=5,
                                degraded_departement="75", degraded_noise_factor=4.0))
    t = data.truth["candidats"].to_pandas()
    cfg = data.config
    normal = t[~t.degraded_group]
    assert abs(normal.name_typo.mean() - cfg.name_typo) < 0.02
    assert abs((t.nir_status == "mistyped").mean() - cfg.nir_mistyped) < 0.01
    dob_full = normal[normal.dob_quality == "full"]
    assert abs(dob_full.year_error.mean() - cfg.dob_year_error) < 0.01
    noise = ["name_typo", "first_name_typo", "year_error", "day_error", "birthplace_missing"]
    score = t[noise].sum(axis=1)
    assert t.degraded_group.sum() > 30
    assert score[t.degraded_group].mean() > 2 * score[~t.degraded_group].mean()


def test_refusal_code_eras_and_states(data):
    cand = data.platform["candidatures"].to_pandas()
    refused = cand[cand.etat == "refused"]
    assert (refused.motif_refus.notna()).all()
    old_only = refused[refused.motif_refus == "did_not_come"]
    assert len(old_only) and (old_only.date_traitement < np.datetime64("2022-07-26")).all()
    new_only = refused[refused.motif_refus.isin(["did_not_come_to_interview", "hired_elsewhere"])]
    assert len(new_only) and (new_only.date_traitement >= np.datetime64("2022-07-26")).all()
    # poorly_informed was offered from 2021-11-04 until the revision of 2022-07-26 only
    poorly = refused[refused.motif_refus == "poorly_informed"]
    assert len(poorly) and poorly.date_traitement.between(
        np.datetime64("2021-11-04"), np.datetime64("2022-07-25")).all()
    auto = refused[refused.motif_refus == "auto"]
    assert (auto.date_traitement >= np.datetime64("2025-03-10")).all()
    share = cand.etat.value_counts(normalize=True)
    assert 0.12 < share["accepted"] < 0.27 and share["refused"] == share.max()
    acc = cand[cand.etat == "accepted"]
    assert acc.date_embauche.notna().all()
    per_candidate = cand.groupby("candidat_id").size()
    assert per_candidate.min() >= 1 and per_candidate.max() <= 6
    assert cand.date_candidature.min().year == 2021 and cand.date_candidature.max().year == 2025


def test_passes(data):
    p = data.platform["pass_agrements"].to_pandas()
    assert p.numero.str.len().eq(12).all() and p.numero.str.startswith("99999").all()
    days = (pd.to_datetime(p.date_fin) - pd.to_datetime(p.date_debut)).dt.days
    assert days.between(729, 731).all()
    f = data.platform["flux_iae_salarie"].to_pandas()
    assert f.numero_pass.isin(p.numero).all() and f.siret.str.len().eq(14).all()


def test_deterministic_bytes(tmp_path):
    def digest(folder):
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}
    write_synthetic(tmp_path / "a", n_candidates=300, seed=9, source_ratio=2.0)
    write_synthetic(tmp_path / "b", n_candidates=300, seed=9, source_ratio=2.0)
    write_synthetic(tmp_path / "c", n_candidates=300, seed=10, source_ratio=2.0)
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert a == b and len(a) == 15
    assert a["platform/candidats.parquet"] != c["platform/candidats.parquet"]
    effect = json.loads((tmp_path / "a" / "truth" / "effect.json").read_text())
    assert set(effect["att"]) == {"6", "12", "24"}


def test_config_validation():
    with pytest.raises(ConfigError, match="name_typo"):
        SynthConfig(name_typo=1.5)
    with pytest.raises(ConfigError, match="n_candidates"):
        SynthConfig(n_candidates=0)
    with pytest.raises(ConfigError, match="source_ratio"):
        SynthConfig(source_ratio=0.5)


def test_cli(tmp_path, capsys):
    code = cli_main(["-q", "synth", "--candidates", "60", "--seed", "1", "--out",
                     str(tmp_path), "--source-ratio", "2"])
    assert code == 0
    assert (tmp_path / "source" / "personnes.parquet").exists()
    assert "60 candidates" in capsys.readouterr().out
