"""Synthetic deliveries: N successive extracts of one synthetic world, each with its truth.

A project linking the platform to an employment source receives a first extract, then regular
ones (quarterly). :func:`generate_deliveries` draws ONE world with :func:`generate` — sized for
the last delivery — and renders it as seen at N successive dates:

- **new candidates and candidatures**: candidates enter in the order of their first
  candidature (time zero); delivery ``k`` holds the first ``n_k = n_1 (1 + growth)^(k-1)`` of
  them and the candidatures dated up to its extraction date ``C_k`` (a candidature processed
  after ``C_k`` is still ``new`` in delivery ``k``: no state, reason, processing or hiring date);
  diagnoses, PASS IAE and the candidate's latest diagnosis are those dated up to ``C_k``. The
  last delivery is the generator's full output (``C_N = last_date``).
- **longer employment follow-up**: the source of delivery ``k`` is extracted ``S_k = C_k +
  (source_date - last_date)``: spells start up to ``S_k`` (a spell still running then has no end
  date), and a person whose first spell starts after ``S_k`` is not in it yet (persons with no
  spell are always there).
- **changed identities**: some candidates' identities change between deliveries; before the
  delivery of the change (drawn uniformly among the later ones) the candidate shows its earlier
  version: ``nir_found_later`` (the NIR was missing), ``married_name`` (the birth name was the
  name, the usage name came later), ``birth_date_corrected`` (the birth year was off by one),
  and on the source side ``source_moved`` (the person's earlier postcode). The last delivery
  shows every identity as :func:`generate` rendered it.

The truth of each delivery (``truth/links``: candidates of the delivery and their persons
present in its source; ``truth/candidats`` filtered likewise; ``truth/changes``: the changes
visible in that delivery, with the delivery where each one first appears) is written beside its
extract. Nothing is drawn twice: the same seed gives byte-identical files.

Examples:
    >>> series = generate_deliveries(3, n_candidates=100, seed=1, source_ratio=2)
    >>> [d.platform["candidats"].num_rows for d in series.deliveries]
    [100, 110, 121]
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from .._atomic import write_json
from .._log import get_logger
from ..errors import ConfigError
from .config import SynthConfig
from .generate import SynthData, generate, write_world_tables

__all__ = ["DeliverySeries", "SynthDelivery", "generate_deliveries", "write_deliveries",
           "CHANGE_KINDS"]

log = get_logger(__name__)

#: identity changes planted between deliveries (platform side, then source side)
CHANGE_KINDS = ("nir_found_later", "married_name", "birth_date_corrected", "source_moved")


@dataclass
class SynthDelivery:
    """One extract of the series.

    Attributes:
        name: the delivery's name (``d1``, ``d2`` ... unless given).
        index: its rank, from 1.
        platform, source, truth: Arrow tables, as :class:`~appariement.synth.SynthData`.
        extraction_date: ``C_k``, the platform's extraction date.
        source_date: ``S_k``, the source's extraction date (``[project] as_of`` of its run).
    """

    name: str
    index: int
    platform: dict[str, pa.Table]
    source: dict[str, pa.Table]
    truth: dict[str, pa.Table]
    extraction_date: dt.date
    source_date: dt.date

    def write(self, out_dir, world: SynthData) -> Path:
        """Write ``platform/``, ``source/`` and ``truth/`` (Parquet, atomically), with
        ``truth/effect.json`` (the world's planted effect) and ``truth/config.json``."""
        out = write_world_tables(out_dir, self.platform, self.source, self.truth)
        write_json(out / "truth" / "effect.json", world.effect)
        config = world.config.to_dict()
        config.update(n_candidates=self.platform["candidats"].num_rows,
                      last_date=self.extraction_date.isoformat(),
                      source_date=self.source_date.isoformat())
        write_json(out / "truth" / "config.json",
                   {**config, "delivery": {"name": self.name, "index": self.index}})
        return out


@dataclass
class DeliverySeries:
    """The world and its successive extracts (:attr:`deliveries`, in order)."""

    world: SynthData
    deliveries: list[SynthDelivery]

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.deliveries]


def generate_deliveries(n_deliveries: int, n_candidates: int = 20_000, *, growth: float = 0.10,
                        seed: int = 42, names: list[str] | None = None,
                        change_rate: float = 0.03, **overrides) -> DeliverySeries:
    """N successive extracts of one synthetic world (see the module docstring).

    Args:
        n_deliveries: number of deliveries (>= 1).
        n_candidates: candidates of the FIRST delivery.
        growth: growth of the candidate file from one delivery to the next (0.10: +10 %).
        seed: random seed of the world and of the changes.
        names: the deliveries' names (default ``d1`` ... ``dN``).
        change_rate: share of the eligible records that change, per kind of change.
        **overrides: other :class:`SynthConfig` fields (``source_ratio``, noise rates...).

    Returns:
        A :class:`DeliverySeries`.

    Raises:
        ConfigError: a parameter out of range.
    """
    if not isinstance(n_deliveries, int) or not 1 <= n_deliveries <= 40:
        raise ConfigError(f"n_deliveries must be an integer between 1 and 40, got "
                          f"{n_deliveries!r}")
    if not 0.0 <= growth <= 10.0:
        raise ConfigError(f"growth must be between 0 and 10, got {growth!r}")
    if not 0.0 <= change_rate <= 0.5:
        raise ConfigError(f"change_rate must be between 0 and 0.5, got {change_rate!r}")
    names = list(names) if names is not None else [f"d{k}" for k in range(1, n_deliveries + 1)]
    if len(names) != n_deliveries or len(set(names)) != n_deliveries:
        raise ConfigError(f"names must be {n_deliveries} distinct names, got {names!r}")
    sizes = [int(round(n_candidates * (1 + growth) ** k)) for k in range(n_deliveries)]
    world = generate(SynthConfig(n_candidates=sizes[-1], seed=seed, **overrides))
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 17])))
    con = duckdb.connect()
    con.execute("SET threads = 1")  # row order of every result is fixed by ORDER BY anyway
    try:
        for side in (world.platform, world.source, world.truth):
            for name, table in side.items():
                con.register(f"w_{name}" if side is not world.truth else f"t_{name}", table)
        order = con.execute("SELECT candidat_id, time_zero FROM t_candidats "
                            "ORDER BY time_zero, candidat_id").fetchall()
        first_in = {cid: 0 for cid, _ in order}
        cuts: list[dt.date] = []
        for k, size in enumerate(sizes):
            for cid, _ in order[(sizes[k - 1] if k else 0):size]:
                first_in[cid] = k
            cuts.append(world.config.last_date if k == len(sizes) - 1 else order[size - 1][1])
        lag = world.config.source_date - world.config.last_date
        changes = _draw_changes(con, rng, world, first_in, n_deliveries, change_rate)
        con.register("w_entry", pa.table({"candidat_id": list(first_in),
                                          "entry": list(first_in.values())}))
        con.register("w_changes", changes)
        deliveries = [_render(con, world, k, names[k], cuts[k], cuts[k] + lag,
                              cuts[k - 1] + lag if k else None)
                      for k in range(n_deliveries)]
    finally:
        con.close()
    return DeliverySeries(world, deliveries)


def write_deliveries(out_dir, n_deliveries: int, n_candidates: int = 20_000, **options
                     ) -> DeliverySeries:
    """Generate a series (:func:`generate_deliveries`) and write each delivery to
    ``out_dir/<name>/`` (``platform/``, ``source/``, ``truth/``), with ``out_dir/deliveries.json``
    (names in order, extraction and source dates, sizes).

    Examples:
        >>> import tempfile
        >>> s = write_deliveries(tempfile.mkdtemp(), 2, n_candidates=60, seed=2, source_ratio=2)
        >>> s.names
        ['d1', 'd2']
    """
    series = generate_deliveries(n_deliveries, n_candidates, **options)
    out = Path(out_dir)
    for d in series.deliveries:
        d.write(out / d.name, series.world)
    write_json(out / "deliveries.json", {"deliveries": [
        {"name": d.name, "index": d.index, "extraction_date": d.extraction_date.isoformat(),
         "source_date": d.source_date.isoformat(),
         "candidats": d.platform["candidats"].num_rows,
         "personnes": d.source["personnes"].num_rows,
         "changes": d.truth["changes"].num_rows} for d in series.deliveries]})
    return series


# ------------------------------------------------------------------------------ internals

def _draw_changes(con, rng, world: SynthData, first_in: dict, n: int, rate: float) -> pa.Table:
    """kind, record id, delivery index (0-based) of the change, and the earlier value."""
    kinds, ids, at, before = [], [], [], []
    if n < 2:
        return pa.table({"kind": pa.array([], pa.string()), "record_id": pa.array([], pa.string()),
                         "at_delivery": pa.array([], pa.int32()), "earlier": pa.array([], pa.string())})
    cand = con.execute("SELECT candidat_id, nir, nom, nom_naissance, date_naissance "
                       "FROM w_candidats ORDER BY candidat_id").fetchall()

    def pick(rows, kind, earlier):
        rows = [r for r in rows if first_in[r[0]] < n - 1]  # present before the last delivery
        if not rows:
            return
        chosen = rng.random(len(rows)) < rate
        when = rng.integers(0, n, len(rows))
        for row, c, w in zip(rows, chosen, when):
            # the change appears in a delivery after the candidate's first one
            w = max(int(w), first_in[row[0]] + 1)
            if c and w < n:
                kinds.append(kind)
                ids.append(row[0])
                at.append(w)
                before.append(earlier(row))

    pick([r for r in cand if r[1] is not None], "nir_found_later", lambda r: None)
    pick([r for r in cand if r[3] is not None and r[2] is not None and r[2] != r[3]],
         "married_name", lambda r: r[3])
    pick([r for r in cand if r[4] is not None and _shift_year(r[4]) is not None],
         "birth_date_corrected", lambda r: _shift_year(r[4]))
    persons = con.execute("SELECT person_id, code_postal FROM w_personnes "
                          "WHERE code_postal IS NOT NULL ORDER BY person_id").fetchall()
    moved = np.flatnonzero(rng.random(len(persons)) < rate)
    when = rng.integers(1, n, len(persons))
    donors = rng.integers(0, len(persons), len(persons))
    for i in moved:
        kinds.append("source_moved")
        ids.append(persons[i][0])
        at.append(int(when[i]))
        before.append(persons[donors[i]][1])
    return pa.table({"kind": pa.array(kinds, pa.string()), "record_id": pa.array(ids, pa.string()),
                     "at_delivery": pa.array(at, pa.int32()), "earlier": pa.array(before, pa.string())})


def _shift_year(text: str) -> str | None:
    """The same date text with its four-digit year one lower (None: no four-digit year)."""
    digits = [i for i in range(len(text) - 3) if text[i:i + 4].isdigit()
              and (i == 0 or not text[i - 1].isdigit())
              and (i + 4 == len(text) or not text[i + 4].isdigit())]
    if len(digits) != 1:
        return None
    i = digits[0]
    return f"{text[:i]}{int(text[i:i + 4]) - 1:04d}{text[i + 4:]}"


def _table(con, sql: str, like: pa.Table) -> pa.Table:
    """A query's result with the schema of the world's table (same types, same order)."""
    return con.sql(sql).to_arrow_table().select(like.schema.names).cast(like.schema)


def _render(con, world: SynthData, k: int, name: str, cut: dt.date, source_date: dt.date,
            previous_source_date: dt.date | None) -> SynthDelivery:
    """Delivery ``k`` (0-based): the world as extracted on ``cut`` / ``source_date``."""
    c, s = f"DATE '{cut.isoformat()}'", f"DATE '{source_date.isoformat()}'"
    con.execute(f"CREATE OR REPLACE TEMP TABLE d_cand AS SELECT candidat_id FROM w_entry "
                f"WHERE entry <= {k}")
    changed = f"(SELECT * FROM w_changes WHERE at_delivery > {k})"  # not yet happened in delivery k
    p, wp = {}, world.platform
    diag_cols = [f'"{col}"' for col in wp["diagnostics"].schema.names
                 if col.startswith("critere_") or col in ("date_diagnostic", "auteur_diagnostic")]
    latest = ", ".join(f"ld.{col}" for col in diag_cols)
    keep = ", ".join(f'w."{col}"' for col in wp["candidats"].schema.names
                     if f'"{col}"' not in diag_cols
                     and col not in ("nir", "nom", "nom_naissance", "date_naissance"))
    p["candidats"] = _table(con, f"""
        WITH ld AS (SELECT * FROM w_diagnostics WHERE date_diagnostic <= {c}
                    QUALIFY row_number() OVER (PARTITION BY candidat_id
                                               ORDER BY date_diagnostic DESC, diagnostic_id DESC) = 1)
        SELECT {keep}, {latest},
               CASE WHEN nf.record_id IS NOT NULL THEN NULL ELSE w.nir END AS nir,
               CASE WHEN mn.record_id IS NOT NULL THEN mn.earlier ELSE w.nom END AS nom,
               CASE WHEN mn.record_id IS NOT NULL THEN NULL ELSE w.nom_naissance END
                   AS nom_naissance,
               coalesce(bd.earlier, w.date_naissance) AS date_naissance
        FROM w_candidats w SEMI JOIN d_cand USING (candidat_id)
        LEFT JOIN ld USING (candidat_id)
        LEFT JOIN {changed} nf ON nf.kind = 'nir_found_later' AND nf.record_id = w.candidat_id
        LEFT JOIN {changed} mn ON mn.kind = 'married_name' AND mn.record_id = w.candidat_id
        LEFT JOIN {changed} bd ON bd.kind = 'birth_date_corrected'
                              AND bd.record_id = w.candidat_id
        ORDER BY w.candidat_id""", wp["candidats"])
    p["diagnostics"] = _table(con, f"SELECT * FROM w_diagnostics SEMI JOIN d_cand USING "
                                   f"(candidat_id) WHERE date_diagnostic <= {c} "
                                   "ORDER BY diagnostic_id", wp["diagnostics"])
    p["candidatures"] = _table(con, f"""
        SELECT * REPLACE (
                   CASE WHEN date_traitement > {c} THEN 'new' ELSE etat END AS etat,
                   CASE WHEN date_traitement > {c} THEN NULL ELSE motif_refus END AS motif_refus,
                   CASE WHEN date_traitement > {c} THEN NULL ELSE date_embauche END
                       AS date_embauche,
                   CASE WHEN date_traitement > {c} THEN NULL ELSE date_traitement END
                       AS date_traitement)
        FROM w_candidatures SEMI JOIN d_cand USING (candidat_id)
        WHERE date_candidature <= {c} ORDER BY candidature_id""", wp["candidatures"])
    con.register("d_candidatures", p["candidatures"])
    p["fiches_de_poste"] = wp["fiches_de_poste"]
    p["fiches_de_poste_par_candidature"] = _table(
        con, "SELECT * FROM w_fiches_de_poste_par_candidature SEMI JOIN d_candidatures "
             "USING (candidature_id) ORDER BY candidature_id, fiche_id",
        wp["fiches_de_poste_par_candidature"])
    p["structures"], p["organisations"] = wp["structures"], wp["organisations"]
    p["pass_agrements"] = _table(con, f"SELECT * FROM w_pass_agrements SEMI JOIN d_cand USING "
                                      f"(candidat_id) WHERE date_debut <= {c} ORDER BY numero",
                                 wp["pass_agrements"])
    con.register("d_pass", p["pass_agrements"])
    p["flux_iae_salarie"] = _table(con, f"""
        SELECT * REPLACE (CASE WHEN date_fin > {s} THEN NULL ELSE date_fin END AS date_fin)
        FROM w_flux_iae_salarie WHERE numero_pass IN (SELECT numero FROM d_pass)
          AND date_debut <= {s} ORDER BY salarie_id""", wp["flux_iae_salarie"])
    ws = world.source
    spells = _table(con, f"""
        SELECT * REPLACE (CASE WHEN date_fin > {s} THEN NULL ELSE date_fin END AS date_fin)
        FROM w_periodes_emploi WHERE date_debut <= {s}
        ORDER BY person_id, date_debut, siret""", ws["periodes_emploi"])
    con.register("d_spells", spells)
    personnes = _table(con, f"""
        SELECT w.* REPLACE (coalesce(mv.earlier, w.code_postal) AS code_postal)
        FROM w_personnes w
        LEFT JOIN {changed} mv ON mv.kind = 'source_moved' AND mv.record_id = w.person_id
        WHERE w.person_id IN (SELECT person_id FROM d_spells)
           OR w.person_id NOT IN (SELECT person_id FROM w_periodes_emploi)
        ORDER BY w.person_id""", ws["personnes"])
    con.register("d_personnes", personnes)
    truth_links = _table(con, "SELECT * FROM t_links SEMI JOIN d_cand USING (candidat_id) "
                              "WHERE person_id IN (SELECT person_id FROM d_personnes) "
                              "ORDER BY candidat_id", world.truth["links"])
    con.register("d_truth_links", truth_links)
    truth_cand = _table(con, """
        SELECT t.* REPLACE (t.candidat_id IN (SELECT candidat_id FROM d_truth_links)
                            AS in_source)
        FROM t_candidats t SEMI JOIN d_cand USING (candidat_id) ORDER BY candidat_id""",
                        world.truth["candidats"])
    # the changes this delivery brings: they happen in delivery k, to a record of delivery k-1
    before = "FALSE"
    if previous_source_date is not None:
        before = ("ch.record_id IN (SELECT person_id FROM w_periodes_emploi WHERE date_debut <= "
                  f"DATE '{previous_source_date.isoformat()}') OR ch.record_id NOT IN "
                  "(SELECT person_id FROM w_periodes_emploi)")
    changes = con.sql(f"""
        SELECT ch.kind, ch.record_id, ch.at_delivery + 1 AS delivery
        FROM w_changes ch
        WHERE ch.at_delivery = {k} AND CASE WHEN ch.kind = 'source_moved' THEN {before}
                                   ELSE TRUE END
        ORDER BY ch.kind, ch.record_id""").to_arrow_table()
    for view in ("d_candidatures", "d_pass", "d_spells", "d_personnes", "d_truth_links"):
        con.unregister(view)
    return SynthDelivery(name, k + 1, p, {"personnes": personnes, "periodes_emploi": spells},
                         {"links": truth_links, "candidats": truth_cand, "changes": changes},
                         cut, source_date)
