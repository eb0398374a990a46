"""Synthetic data in the shape of a real source: the inverse of an import profile.

:func:`write_profile_shaped` takes the canonical synthetic tables (:func:`generate`) and writes
each table an import profile covers under the real source's file and column names, with its
labels ("Candidature déclinée", "MME") instead of the contract's codes: the inverse of the
profile's mapping. Reading the files back with the profile
(``load_tables(..., profile=NAME)``) gives the canonical tables again, minus what the source
cannot carry:

* contract columns the profile *cannot supply* are not written (a raw platform extract has no
  birth name and no hiring date; the warehouse has no names and no NIR);
* a code with several labels is written with the first one (``employeur``: ``employer``, not
  the pre-2023 ``siae_staff``), a coded column without a label keeps the contract's code (the
  profile reads codes as they are);
* sex, when the profile reads it from a two-label field (``title``: M / MME), is first reduced
  to 1 / 2 by :func:`appariement.identity.sex.normalise_sex` — the generator's noisy styles
  (H/F, HOMME...) do not exist in those fields;
* the generator's hire date is the start of the IAE contract: a profile that reads the planned
  contract start (``hiring_start_at`` -> ``date_debut_contrat``) but no hiring date gets it
  there, and a run that takes that start as the hire date says so in its mapping
  (``[inputs.mapping.candidatures] hiring_start_at = "date_embauche"``);
* opaque pre-hashed keys (``hash_nir``, ``hash_numéro_pass_iae``) are the hex SHA-256 of the
  value and one global salt, as the platform's warehouse computes them (``hash_content``); the
  DARES side (``personnes``) gets the same ``hash_nir`` so that both producers hashed alike.

Tables the profile does not cover (``diagnostics``, the source side) are written as they are,
under the contract's names, in Parquet. Profile-shaped tables are CSV files, as the real
extracts are.

Examples:
    >>> import tempfile
    >>> from appariement.synth import SynthConfig, generate
    >>> data = generate(SynthConfig(n_candidates=40, source_ratio=2, seed=3))
    >>> out = write_profile_shaped(data, tempfile.mkdtemp(), "les_emplois_extract")
    >>> sorted(p.name for p in (out / "platform").iterdir())[:3]
    ['approvals.csv', 'companies.csv', 'diagnostics.parquet']
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .._atomic import atomic_path, write_json
from .._tables import sql_literal
from .._tables import quote_identifier as _quote
from ..identity.sex import normalise_sex
from ..io.contract import table_spec
from ..io.profiles import ColumnRule, ImportProfile, TableProfile, get_profile

__all__ = ["write_profile_shaped", "restricted_to", "SYNTHETIC_SALT", "profile_table_columns"]

#: the "one global salt" of the synthetic warehouse (not a secret: synthetic data only)
SYNTHETIC_SALT = "appariement-synthetic-salt"
#: the date suffix of the ASP's file names (``fluxIAE_Salarie_29032021_090124.csv``)
_ASP_SUFFIX = "_01012026_000000"


def write_profile_shaped(data, out_dir: str | Path, profile: str | list | ImportProfile,
                         *, salt: str = SYNTHETIC_SALT) -> Path:
    """Write a synthetic data set in the shape of an import profile.

    Args:
        data: a :class:`~appariement.synth.SynthData`.
        out_dir: destination; ``platform/`` holds the profile-shaped CSV files (and the
            tables the profile does not cover, as Parquet), ``source/`` and ``truth/`` are as
            :meth:`SynthData.write` writes them.
        profile: a profile name, a list of names (profiles of different tables), or object.
        salt: the global salt of the pre-hashed keys.

    Returns:
        The destination folder.
    """
    prof = get_profile(profile)
    out = Path(out_dir)
    con = duckdb.connect()
    try:
        hashed_nir = _needs_hashed_nir(prof)
        for table, arrow in data.platform.items():
            tp = prof.tables.get(table)
            if tp is None:
                if table == "flux_iae_salarie" and _pass_is_hashed(prof):
                    # the PASS numbers are hashed on the platform side: the ASP side refers
                    # to them by the same hash (as pilotage-airflow keeps them)
                    arrow = _hashed_column(arrow, "numero_pass", salt)
                _write_parquet(arrow, out / "platform" / f"{table}.parquet")
            elif tp.join == "flux_iae":
                _write_flux_iae(con, arrow, out / "platform")
            else:
                name = tp.sources[0]
                rel = _shaped(con, table, arrow, tp, salt)
                _write_csv(rel, out / "platform" / f"{name}.csv")
        for table, arrow in data.source.items():
            if table == "personnes" and hashed_nir:
                arrow = _with_hash_nir(arrow, salt)
            _write_parquet(arrow, out / "source" / f"{table}.parquet")
        for table, arrow in data.truth.items():
            _write_parquet(arrow, out / "truth" / f"{table}.parquet")
        write_json(out / "truth" / "effect.json", data.effect)
        write_json(out / "truth" / "config.json",
                   {**data.config.to_dict(), "profile": prof.label})
    finally:
        con.close()
    return out


def profile_table_columns(profile: str | list | ImportProfile, table: str) -> list[str]:
    """The contract columns of ``table`` that a profile carries (what survives a round trip
    through :func:`write_profile_shaped` and ``load_tables(..., profile=)``)."""
    prof = get_profile(profile)
    spec = table_spec(table)
    tp = prof.tables.get(table)
    if tp is None:
        return list(spec.column_names)
    return [c for c in spec.column_names if c not in tp.cannot_supply]


# ------------------------------------------------------------------------------ one table

def _pass_is_hashed(prof: ImportProfile) -> bool:
    tp = prof.tables.get("pass_agrements")
    return tp is not None and "numero" in tp.opaque_keys


def _hashed_column(arrow: pa.Table, column: str, salt: str) -> pa.Table:
    hashed = pa.array([_hash(v, salt) for v in arrow.column(column).to_pylist()], pa.string())
    return arrow.set_column(arrow.column_names.index(column), column, hashed)


def _needs_hashed_nir(prof: ImportProfile) -> bool:
    tp = prof.tables.get("candidats")
    return tp is not None and tp.rule("hash_nir") is not None and "nir" in tp.cannot_supply


def _shaped(con, table: str, arrow: pa.Table, tp: TableProfile, salt: str):
    """The SELECT giving one canonical table in the profile's names and labels."""
    view = f"_app_synth_{table}"
    con.register(view, _prepared(table, arrow, tp, salt))
    select, taken = [], set()
    for column in con.table(view).columns:
        if column in tp.cannot_supply:
            continue
        rule = tp.rule(column)
        name = rule.sources[0] if rule is not None else column
        if name in taken:  # one source column feeds two targets: written once
            continue
        taken.add(name)
        select.append(f"{_inverse_sql(_quote(column), rule)} AS {_quote(name)}")
    return con.sql(f"SELECT {', '.join(select)} FROM {view}")


def _prepared(table: str, arrow: pa.Table, tp: TableProfile, salt: str) -> pa.Table:
    """The canonical table with what the profile's source holds instead: hashed keys, sex
    reduced to 1 / 2 when the source has two labels."""
    sex_rule = tp.rule("sexe")
    if sex_rule is not None and sex_rule.recode is not None and "sexe" in arrow.column_names:
        values = [None if v is None else normalise_sex(v)
                  for v in arrow.column("sexe").to_pylist()]
        arrow = arrow.set_column(arrow.column_names.index("sexe"), "sexe",
                                 pa.array(values, pa.string()))
    if (table == "candidatures" and "date_embauche" in tp.cannot_supply
            and tp.rule("date_debut_contrat") is not None
            and "date_embauche" in arrow.column_names
            and "date_debut_contrat" not in arrow.column_names):
        arrow = arrow.append_column("date_debut_contrat", arrow.column("date_embauche"))
    if tp.rule("hash_nir") is not None and "nir" in arrow.column_names:
        arrow = _with_hash_nir(arrow, salt)
    if "numero" in tp.opaque_keys and "numero" in arrow.column_names:
        arrow = _hashed_column(arrow, "numero", salt)
    return arrow


def _with_hash_nir(arrow: pa.Table, salt: str) -> pa.Table:
    hashed = pa.array([_hash(v, salt) for v in arrow.column("nir").to_pylist()], pa.string())
    if "hash_nir" in arrow.column_names:
        return arrow.set_column(arrow.column_names.index("hash_nir"), "hash_nir", hashed)
    return arrow.append_column("hash_nir", hashed)


def _hash(value: Any, salt: str) -> str | None:
    """``sha256(value + salt)`` in hex, as ``itou/metabase/tables/utils.py`` hashes."""
    if value is None or not str(value).strip():
        return None
    return hashlib.sha256(f"{str(value).strip()}{salt}".encode("utf-8")).hexdigest()


def _inverse_sql(column: str, rule: ColumnRule | None) -> str:
    """SQL writing a canonical value as the source's label (the inverse of the rule)."""
    if rule is None:
        return column
    text = f"CAST({column} AS VARCHAR)"
    if rule.presence:
        # the source has a value (any) exactly when the code is not the 'absent' one
        return (f"CASE WHEN {column} IS NULL THEN NULL WHEN {text} = "
                f"{_lit(rule.absent)} THEN NULL ELSE 'synthetic' END"
                if rule.absent is not None else
                f"CASE WHEN {text} = {_lit(rule.present)} THEN 'synthetic' END")
    if rule.recode is None:
        return column
    labels: dict[str, str] = {}
    for label, code in rule.recode.items():
        if code is not None:
            labels.setdefault(code, label)  # the first label of a code
    if not labels:
        return column
    cases = " ".join(f"WHEN {_lit(code)} THEN {_lit(label)}" for code, label in labels.items())
    # booleans are compared as 'true' / 'false', the codes a recode gives them
    key = f"lower({text})" if set(labels) <= {"true", "false"} else text
    return f"CASE {key} {cases} ELSE {text} END"


def _lit(value: str | None) -> str:
    return sql_literal(None if value is None else str(value))


# ------------------------------------------------------------------------------ fluxIAE

def _write_flux_iae(con, arrow: pa.Table, folder: Path) -> None:
    """flux_iae_salarie split back into the ASP's three tables (one contract per salarié)."""
    con.register("_app_synth_flux", arrow)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _app_synth_flux_s AS
        SELECT *, CASE WHEN siret IS NULL THEN NULL ELSE
                   'A' || CAST(dense_rank() OVER (ORDER BY siret) AS VARCHAR) END AS sid
        FROM _app_synth_flux""")
    salarie = con.sql("SELECT salarie_id, numero_pass AS salarie_agrement "
                      "FROM _app_synth_flux_s ORDER BY salarie_id")
    contrat = con.sql("""
        SELECT salarie_id AS contrat_id_pph, row_number() OVER (ORDER BY salarie_id)
                   AS contrat_id_ctr, sid AS contrat_id_structure,
               strftime(date_debut, '%d/%m/%Y') AS contrat_date_embauche,
               strftime(date_fin, '%d/%m/%Y') AS contrat_date_sortie_definitive
        FROM _app_synth_flux_s ORDER BY salarie_id""")
    structure = con.sql("SELECT DISTINCT sid AS structure_id_siae, siret AS "
                        "structure_siret_actualise FROM _app_synth_flux_s "
                        "WHERE sid IS NOT NULL ORDER BY 1")
    for name, rel in (("fluxIAE_Salarie", salarie), ("fluxIAE_ContratMission", contrat),
                      ("fluxIAE_Structure", structure)):
        _write_csv(rel, folder / f"{name}{_ASP_SUFFIX}.csv")


# ------------------------------------------------------------------------------ writing

def _write_csv(rel, path: Path) -> None:
    with atomic_path(path) as tmp:
        rel.write_csv(str(tmp), header=True)


def _write_parquet(arrow: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp)


def restricted_to(data, profile: str | list | ImportProfile,
                  mapping: dict[str, dict[str, str]] | None = None, *,
                  salt: str = SYNTHETIC_SALT):
    """The same data set, in the contract's names, holding what a profile's source holds.

    The ``cannot_supply`` columns are dropped from the tables the profile covers (unless the
    user ``mapping`` supplies them from another column), and the keys the source hashes are
    hashed alike (``hash_nir`` on both sides, PASS numbers): the canonical twin of
    :func:`write_profile_shaped`, which a run with the profile (and that mapping) must
    reproduce exactly."""
    import dataclasses

    prof = get_profile(profile)
    hashed_nir, hashed_pass = _needs_hashed_nir(prof), _pass_is_hashed(prof)
    source = dict(data.source)
    if hashed_nir:
        source["personnes"] = _with_hash_nir(source["personnes"], salt)
    platform = {}
    for table, arrow in data.platform.items():
        tp = prof.tables.get(table)
        if table == "candidats" and hashed_nir:
            arrow = _with_hash_nir(arrow, salt)
        if table == "pass_agrements" and hashed_pass:
            arrow = _hashed_column(arrow, "numero", salt)
        if table == "flux_iae_salarie" and hashed_pass and tp is None:
            arrow = _hashed_column(arrow, "numero_pass", salt)
        supplied = set((mapping or {}).get(table, {}).values())
        drop = [c for c in (tp.cannot_supply if tp else ())
                if c in arrow.column_names and c not in supplied]
        platform[table] = arrow.drop_columns(drop) if drop else arrow
    return dataclasses.replace(data, platform=platform, source=source)
