"""Incremental linkage: a new delivery scored against a frozen model, stable links.

A delivery is a full extract (every candidate and person so far). Records are identified by
their id and a **fingerprint**, the SHA-256 of their standardised identity features (the
columns the linkage reads — the model's and the exact stage's —, by name, with the project
name as salt: an edited identity, another schema or another model changes it). Compared with the previous delivery's fingerprints, each record is ``new``,
``changed``, ``unchanged`` or ``removed``. Then, with the previous delivery's model (frozen,
never retrained here):

1. **kept**: a previous link row (match, review or non-match) whose candidate and person are
   both unchanged is copied as it was, byte for byte;
2. **pass A**: new and changed candidates, and unchanged ones whose linked person changed or
   left the source, go through the cascade (exact stage on their keys only, then the
   probabilistic stage) against the whole source — less, in one-to-one mode, the persons kept
   links hold;
3. **pass B**: the other unchanged candidates without a match are blocked against the new and
   changed source persons only (new evidence for an old candidate); a match found there
   replaces a kept review / non-match row;
4. **diff**: every change against the previous links (``new_link``, ``changed_person``,
   ``dropped_link``, ``decision_change``) with its reason (``new_candidate``,
   ``candidate_identity_changed``, ``candidate_removed``, ``person_identity_changed``,
   ``person_removed``, ``new_source_person``, ``model_retrained``).

Both passes score with the term frequencies of the WHOLE delivery (as a full run does), so a
pair gets the weight it would get in a full run with the same model. The cost of a delivery
grows with what changed (the pairs of passes A and B), not with the history; reading and
fingerprinting the extract stays linear in it.

Fingerprints, the diff and the previous links stay in the enclave; nothing here logs an
identity (only counts).

Examples:
    >>> # fp = record_fingerprints(con, features, salt="mon_projet")
    >>> # result = link_incremental(con, pf, sf, previous, config, model, salt="mon_projet")
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import duckdb
import pyarrow.parquet as pq

from .._atomic import atomic_path
from .._log import get_logger, step
from .._tables import as_relation, temp_table, to_arrow
from ..errors import LinkageError
from .cascade import Linkage, LinkageConfig, unlinked_source_sql
from .model import LinkageModel

__all__ = ["record_fingerprints", "fingerprint_columns", "PreviousLinks", "IncrementalResult", "link_incremental",
           "delivery_diff", "CHANGES", "REASONS", "FINGERPRINT_FORMAT"]

log = get_logger(__name__)

#: prefix of the fingerprints' salt: a new recipe gets a new name (every record then changes)
FINGERPRINT_FORMAT = "appariement-record-fingerprint-1"
#: the kinds of change the diff lists
CHANGES = ("new_link", "changed_person", "dropped_link", "decision_change")
#: the reasons of a change
REASONS = ("new_candidate", "candidate_identity_changed", "candidate_removed",
           "person_identity_changed", "person_removed", "new_source_person",
           "changed_source_person", "model_retrained", "unexplained")
#: the tables of a link stage this module reads and writes (Parquet, one file each)
TABLES = ("links", "unlinked_platform", "unlinked_source", "set_aside", "pairs")


#: feature columns the exact stage reads besides the model's (its key and its guards)
STAGE1_COLUMNS = ("nir", "hash_nir", "nir_valid", "nir_consistency", "birth_name",
                  "usage_name", "first_name", "first_names", "sex", "birth_year",
                  "birth_month", "birth_day")


def fingerprint_columns(model: LinkageModel | None, columns: Sequence[str]) -> list[str]:
    """The feature columns a record's fingerprint covers: what the linkage reads (the
    model's columns and the exact stage's), or every column without a model."""
    present = [c for c in columns if c != "record_id"]
    if model is None or getattr(model, "columns_", None) is None:
        return sorted(present)
    wanted = set(model.columns_) | set(STAGE1_COLUMNS)
    return sorted(c for c in present if c in wanted)


def record_fingerprints(con: duckdb.DuckDBPyConnection, features, *, salt: str,
                        model: LinkageModel | None = None) -> duckdb.DuckDBPyRelation:
    """``record_id, fingerprint`` of standardised features: ``sha256`` over the feature
    columns the linkage reads (:func:`fingerprint_columns`; sorted by name, names included,
    so another model or schema is a change), salted.

    Args:
        con: the connection.
        features: standardised features (relation, Arrow table or DataFrame) with record_id.
        salt: the project name (fingerprints of two projects never compare equal).
        model: the fitted model whose columns are covered (None: every column).

    Examples:
        >>> con = duckdb.connect()
        >>> f = con.sql("SELECT 'a' AS record_id, 'X' AS birth_name")
        >>> len(record_fingerprints(con, f, salt="p").fetchall()[0][1])
        64
    """
    rel = as_relation(con, features, "features")
    cols = fingerprint_columns(model, rel.columns)
    if not cols:
        raise LinkageError("fingerprints need at least one feature column besides record_id")
    header = f"{FINGERPRINT_FORMAT}|{salt}|{','.join(cols)}".replace("'", "''")
    # concat_ws over coalesced values (a NULL is chr(30), never skipped): 4x faster than ||
    parts = ", ".join(f"coalesce(CAST(\"{c}\" AS VARCHAR), chr(30))" for c in cols)
    return rel.project(f"CAST(record_id AS VARCHAR) AS record_id, "
                       f"sha256(concat_ws(chr(31), '{header}', {parts})) AS fingerprint"
                       ).order("record_id")


@dataclass
class PreviousLinks:
    """The previous delivery's link stage: its tables and fingerprints (relations)."""

    links: duckdb.DuckDBPyRelation
    unlinked_platform: duckdb.DuckDBPyRelation
    set_aside: duckdb.DuckDBPyRelation
    pairs: duckdb.DuckDBPyRelation
    fingerprints_platform: duckdb.DuckDBPyRelation
    fingerprints_source: duckdb.DuckDBPyRelation

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection, folder: str | Path) -> "PreviousLinks":
        """Read a link stage folder (its files checked by the caller)."""
        folder = Path(folder)
        tables = {}
        for name in ("links", "unlinked_platform", "set_aside", "pairs",
                     "fingerprints_platform", "fingerprints_source"):
            tables[name] = con.read_parquet(str(folder / f"{name}.parquet"))
        return cls(**tables)


@dataclass
class IncrementalResult:
    """A delivery's link tables (DuckDB tables on ``con``), its diff and its counts."""

    con: duckdb.DuckDBPyConnection
    tables: dict[str, str]
    counts: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def relation(self, name: str) -> duckdb.DuckDBPyRelation:
        return self.con.table(self.tables[name])

    def write(self, out_dir: str | Path) -> dict[str, str]:
        """Every table as ``<name>.parquet`` (atomically). Returns name → path."""
        out = Path(out_dir)
        written = {}
        for name, table in self.tables.items():
            with atomic_path(out / f"{name}.parquet") as tmp:
                pq.write_table(to_arrow(self.con.table(table)), tmp)
            written[name] = str(out / f"{name}.parquet")
        return written


class _FrozenModel(LinkageModel):
    """A fitted model scoring subsets with the term frequencies of the whole delivery."""

    tf_tables_: dict[str, str] | None = None

    def term_frequency_tables(self, con, left, right, prefix: str = "_app_tf"):
        if self.tf_tables_ is not None:
            return dict(self.tf_tables_)
        return super().term_frequency_tables(con, left, right, prefix)


def frozen(model: LinkageModel) -> LinkageModel:
    """A copy of a fitted model for incremental scoring (same parameters)."""
    return _FrozenModel.from_dict(model.to_dict())


def _count(con, sql: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])


def _status_table(con, name: str, current: str, previous: str) -> None:
    """``record_id, status`` (new / changed / unchanged / removed) of one side."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        SELECT coalesce(c.record_id, o.record_id) AS record_id,
               CASE WHEN o.record_id IS NULL THEN 'new'
                    WHEN c.record_id IS NULL THEN 'removed'
                    WHEN c.fingerprint = o.fingerprint THEN 'unchanged'
                    ELSE 'changed' END AS status
        FROM {current} c FULL JOIN {previous} o ON o.record_id = c.record_id""")


def _run_pass(con, tag: str, config: LinkageConfig, model: LinkageModel, platform: str,
              source: str, template: dict[str, str], counts: dict, timings: dict) -> bool:
    """Run the cascade on two temp tables; copy its tables to ``_inc_<tag>_<name>`` (empty
    copies of ``template`` when either side is empty). Returns whether it ran."""
    n_p, n_s = _count(con, f"SELECT 1 FROM {platform}"), _count(con, f"SELECT 1 FROM {source}")
    counts[f"pass_{tag}_platform"], counts[f"pass_{tag}_source"] = n_p, n_s
    ran = bool(n_p and n_s)
    if ran:
        with step(log, f"delivery: pass {tag} ({n_p} candidates x {n_s} persons)", timings):
            result = Linkage(config, con=con, model=model).run(con.table(platform),
                                                               con.table(source))
        counts[f"pass_{tag}_pairs_scored"] = result.counts.get("stage2_pairs_scored", 0)
        counts[f"pass_{tag}_stage1_links"] = result.counts.get("stage1_links", 0)
        for name in ("links", "unlinked_platform", "set_aside", "pairs"):
            temp_table(getattr(result, name), f"_inc_{tag}_{name}")
        result.drop()
    else:
        for name in ("links", "unlinked_platform", "set_aside", "pairs"):
            con.execute(f"CREATE OR REPLACE TEMP TABLE _inc_{tag}_{name} AS "
                        f"SELECT * FROM {template[name]} LIMIT 0")
    return ran


def link_incremental(con: duckdb.DuckDBPyConnection, platform, source,
                     previous: PreviousLinks, config: LinkageConfig, model: LinkageModel, *,
                     salt: str) -> IncrementalResult:
    """Link a delivery against the previous one's links with a frozen model.

    Args:
        con: the connection (the cascade's tables are created on it).
        platform, source: the delivery's standardised features (whole extract).
        previous: the previous delivery's link tables and fingerprints.
        config: the cascade's options (the same as the previous delivery's).
        model: the previous delivery's fitted model (not changed).
        salt: the fingerprints' salt (the project name).

    Returns:
        An :class:`IncrementalResult` with ``links``, ``unlinked_platform``,
        ``unlinked_source``, ``set_aside``, ``pairs``, ``delivery_diff``, ``fingerprints_platform``,
        ``fingerprints_source`` and counts (records per status, pass sizes, changes).

    Raises:
        LinkageError: a candidate ends neither linked nor unlinked (a bug).
    """
    if not hasattr(model, "settings_"):
        raise LinkageError("an incremental delivery needs the previous delivery's fitted model")
    counts: dict[str, Any] = {}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    temp_table(as_relation(con, platform, "platform"), "_inc_P")
    temp_table(as_relation(con, source, "source"), "_inc_S")
    for side, rel in (("p", previous.fingerprints_platform), ("s", previous.fingerprints_source)):
        temp_table(rel, f"_inc_prev_fp_{side}")
    for name in ("links", "unlinked_platform", "set_aside", "pairs"):
        temp_table(getattr(previous, name), f"_inc_prev_{name}")
    with step(log, "delivery: fingerprints", timings):
        for side, table in (("p", "_inc_P"), ("s", "_inc_S")):
            temp_table(record_fingerprints(con, con.table(table), salt=salt, model=model),
                       f"_inc_fp_{side}")
        _status_table(con, "_inc_status_p", "_inc_fp_p", "_inc_prev_fp_p")
        _status_table(con, "_inc_status_s", "_inc_fp_s", "_inc_prev_fp_s")
    for side, name in (("p", "platform"), ("s", "source")):
        for status, n in con.execute(f"SELECT status, count(*) FROM _inc_status_{side} "
                                     "GROUP BY 1 ORDER BY 1").fetchall():
            counts[f"{name}_{status}"] = int(n)

    one_to_one = config.assignment == "one_to_one"
    # previous link rows with the status of both of their records
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inc_prev_status AS
        SELECT l.candidat_id, l.person_id, l.decision, sp.status AS p_status,
               coalesce(ss.status, 'removed') AS s_status
        FROM _inc_prev_links l
        JOIN _inc_status_p sp ON sp.record_id = l.candidat_id
        LEFT JOIN _inc_status_s ss ON ss.record_id = l.person_id""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inc_kept AS
        SELECT l.* FROM _inc_prev_links l
        SEMI JOIN (SELECT candidat_id FROM _inc_prev_status
                   WHERE p_status = 'unchanged' AND s_status = 'unchanged') k
             ON k.candidat_id = l.candidat_id""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inc_scope_a AS
        SELECT record_id FROM _inc_status_p WHERE status IN ('new', 'changed')
        UNION
        SELECT candidat_id FROM _inc_prev_status
        WHERE p_status = 'unchanged' AND s_status IN ('changed', 'removed')""")
    held = ("SELECT DISTINCT person_id FROM _inc_kept" if one_to_one
            else "SELECT NULL::VARCHAR AS person_id LIMIT 0")
    # --- pass A: new, changed and affected candidates against the whole source
    con.execute("CREATE OR REPLACE TEMP TABLE _inc_PA AS SELECT * FROM _inc_P "
                "SEMI JOIN _inc_scope_a a ON a.record_id = _inc_P.record_id "
                "ORDER BY record_id")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _inc_SA AS SELECT * FROM _inc_S "
                f"ANTI JOIN ({held}) h ON h.person_id = _inc_S.record_id ORDER BY record_id")
    model = frozen(model)
    with step(log, "delivery: term frequencies of the whole delivery", timings):
        model.tf_tables_ = LinkageModel.term_frequency_tables(
            model, con, con.table("_inc_P"), con.table("_inc_S"), prefix="_inc_tf")
    template = {n: f"_inc_prev_{n}" for n in ("links", "unlinked_platform", "set_aside",
                                               "pairs")}
    _run_pass(con, "a", config, model, "_inc_PA", "_inc_SA", template, counts, timings)
    # --- pass B: unchanged candidates without a match against new and changed persons
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inc_PB AS SELECT * FROM _inc_P
        SEMI JOIN (SELECT record_id FROM _inc_status_p WHERE status = 'unchanged') u
             ON u.record_id = _inc_P.record_id
        ANTI JOIN _inc_scope_a a ON a.record_id = _inc_P.record_id
        ANTI JOIN (SELECT candidat_id FROM _inc_kept WHERE decision = 'match') m
             ON m.candidat_id = _inc_P.record_id
        ORDER BY record_id""")
    taken_a = ("SELECT person_id FROM _inc_a_links" if one_to_one
               else "SELECT NULL::VARCHAR AS person_id LIMIT 0")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _inc_SB AS SELECT * FROM _inc_S
        SEMI JOIN (SELECT record_id FROM _inc_status_s WHERE status IN ('new', 'changed')) c
             ON c.record_id = _inc_S.record_id
        ANTI JOIN ({held}) h ON h.person_id = _inc_S.record_id
        ANTI JOIN ({taken_a}) t ON t.person_id = _inc_S.record_id
        ORDER BY record_id""")
    _run_pass(con, "b", config, model, "_inc_PB", "_inc_SB", template, counts, timings)
    # a pass-B row replaces a kept row only when it is a match (new evidence); otherwise the
    # candidate keeps what it had
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inc_b_accepted AS
        SELECT b.* FROM _inc_b_links b
        WHERE b.decision = 'match'
           OR b.candidat_id NOT IN (SELECT candidat_id FROM _inc_kept)""")

    with step(log, "delivery: merging kept and new links", timings):
        _merge(con)
    delivery_diff(con, "_inc_prev_links", "_inc_links", "_inc_status_p", "_inc_status_s",
                  pass_b="_inc_b_accepted", table="_inc_diff")
    counts["links_kept"] = _count(con, "SELECT 1 FROM _inc_kept ANTI JOIN _inc_b_accepted b "
                                       "ON b.candidat_id = _inc_kept.candidat_id")
    for d in ("match", "review", "non_match"):
        counts[f"links_{d}"] = _count(con, f"SELECT 1 FROM _inc_links WHERE decision = '{d}'")
    counts["platform_records"] = _count(con, "SELECT 1 FROM _inc_P")
    counts["source_records"] = _count(con, "SELECT 1 FROM _inc_S")
    counts["unlinked_platform"] = _count(con, "SELECT 1 FROM _inc_unlinked_platform")
    counts["unlinked_source"] = _count(con, "SELECT 1 FROM _inc_unlinked_source")
    if counts["links_match"] + counts["unlinked_platform"] != counts["platform_records"]:
        raise LinkageError("delivery: candidates lost between links and unlinked records; "
                           "this is a bug")
    counts["changes"] = {f"{c}|{r}": int(n) for c, r, n in con.execute(
        "SELECT change, reason, count(*) FROM _inc_diff GROUP BY 1, 2 ORDER BY 1, 2").fetchall()}
    if any(key.endswith("|unexplained") for key in counts["changes"]):
        log.warning("delivery: some link changes have no recorded reason (see the diff)")
    timings["delivery: total"] = round(time.perf_counter() - started, 3)
    log.info("delivery: %d links kept, pass A %d candidates, pass B %d candidates, %d changes",
             counts["links_kept"], counts["pass_a_platform"], counts["pass_b_platform"],
             sum(counts["changes"].values()))
    return IncrementalResult(con, {
        "links": "_inc_links", "unlinked_platform": "_inc_unlinked_platform",
        "unlinked_source": "_inc_unlinked_source", "set_aside": "_inc_set_aside",
        "pairs": "_inc_pairs", "delivery_diff": "_inc_diff",
        "fingerprints_platform": "_inc_fp_p", "fingerprints_source": "_inc_fp_s"},
        counts, timings)


def _merge(con) -> None:
    """The delivery's tables: kept rows and the two passes' rows (same schemas)."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inc_links AS
        SELECT * FROM (
            SELECT * FROM _inc_kept ANTI JOIN _inc_b_accepted b
                ON b.candidat_id = _inc_kept.candidat_id
            UNION ALL BY NAME SELECT * FROM _inc_a_links
            UNION ALL BY NAME SELECT * FROM _inc_b_accepted)
        ORDER BY candidat_id""")
    # unlinked candidates: the pass that considered them last says why
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _inc_unlinked_platform AS
        SELECT * FROM (
            SELECT u.* FROM _inc_prev_unlinked_platform u
            SEMI JOIN _inc_P p ON p.record_id = u.candidat_id
            ANTI JOIN _inc_scope_a a ON a.record_id = u.candidat_id
            ANTI JOIN _inc_b_accepted b ON b.candidat_id = u.candidat_id
            UNION ALL BY NAME SELECT * FROM _inc_a_unlinked_platform
            UNION ALL BY NAME
            SELECT u.* FROM _inc_b_unlinked_platform u
            SEMI JOIN _inc_b_accepted b ON b.candidat_id = u.candidat_id)
        ORDER BY candidat_id""")
    con.execute("CREATE OR REPLACE TEMP TABLE _inc_unlinked_source AS "
                + unlinked_source_sql("_inc_links", "_inc_S"))
    # pairs and set-aside rows of records that were not re-scored, then the passes' own
    stale = """
        SEMI JOIN (SELECT record_id FROM _inc_status_p WHERE status = 'unchanged') u
             ON u.record_id = t.candidat_id
        ANTI JOIN _inc_scope_a a ON a.record_id = t.candidat_id
        WHERE t.person_id IS NULL OR t.person_id IN
              (SELECT record_id FROM _inc_status_s WHERE status = 'unchanged')"""
    for name, order in (("pairs", "candidat_id, person_id, stage"),
                        ("set_aside", "candidat_id, person_id, reason")):
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _inc_{name} AS
            SELECT * FROM (
                SELECT t.* FROM _inc_prev_{name} t {stale}
                UNION ALL BY NAME SELECT * FROM _inc_a_{name}
                UNION ALL BY NAME SELECT * FROM _inc_b_{name})
            ORDER BY {order}""")


def delivery_diff(con, previous_links: str, links: str, status_platform: str,
                  status_source: str, *, pass_b: str | None = None,
                  retrained: bool = False, table: str = "_inc_diff"
                  ) -> duckdb.DuckDBPyRelation:
    """Every link that changed between two deliveries, with its reason (a table on ``con``).

    A link is a row of ``links`` (any decision). ``change``: ``new_link`` (none before),
    ``dropped_link`` (none now), ``changed_person``, ``decision_change`` (same person). The
    reason is, in this order: the candidate is new, removed or changed; its earlier person was
    removed or changed; a new (or changed) source person was found for it (``pass_b``); the
    model was retrained; else ``unexplained`` (logged).

    Args:
        previous_links, links: table names (``candidat_id, person_id, decision,
            match_probability``).
        status_platform, status_source: ``record_id, status`` tables.
        pass_b: the candidates whose new link came from new source persons.
        retrained: the delivery retrained its model (the reason of the remaining changes).
    """
    b = f"(SELECT candidat_id FROM {pass_b})" if pass_b else "(SELECT NULL AS candidat_id)"
    other = "'model_retrained'" if retrained else "'unexplained'"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        WITH o AS (SELECT candidat_id, person_id, decision, match_probability
                   FROM {previous_links}),
             n AS (SELECT candidat_id, person_id, decision, match_probability FROM {links}),
             d AS (
                SELECT coalesce(n.candidat_id, o.candidat_id) AS candidat_id,
                       o.person_id AS person_id_before, n.person_id AS person_id_after,
                       o.decision AS decision_before, n.decision AS decision_after,
                       o.match_probability AS match_probability_before,
                       n.match_probability AS match_probability_after,
                       CASE WHEN o.candidat_id IS NULL THEN 'new_link'
                            WHEN n.candidat_id IS NULL THEN 'dropped_link'
                            WHEN n.person_id <> o.person_id THEN 'changed_person'
                            ELSE 'decision_change' END AS change
                FROM n FULL JOIN o ON o.candidat_id = n.candidat_id
                WHERE o.candidat_id IS NULL OR n.candidat_id IS NULL
                   OR n.person_id <> o.person_id OR n.decision <> o.decision)
        SELECT d.candidat_id, d.change,
               CASE WHEN sp.status = 'new' THEN 'new_candidate'
                    WHEN sp.status IS NULL OR sp.status = 'removed' THEN 'candidate_removed'
                    WHEN sp.status = 'changed' THEN 'candidate_identity_changed'
                    WHEN d.person_id_before IS NOT NULL
                         AND coalesce(sb.status, 'removed') = 'removed' THEN 'person_removed'
                    WHEN sb.status = 'changed' THEN 'person_identity_changed'
                    WHEN d.candidat_id IN {b} AND sa.status = 'new' THEN 'new_source_person'
                    WHEN d.candidat_id IN {b} AND sa.status = 'changed'
                         THEN 'changed_source_person'
                    ELSE {other} END AS reason,
               d.person_id_before, d.person_id_after, d.decision_before, d.decision_after,
               d.match_probability_before, d.match_probability_after
        FROM d
        LEFT JOIN {status_platform} sp ON sp.record_id = d.candidat_id
        LEFT JOIN {status_source} sb ON sb.record_id = d.person_id_before
        LEFT JOIN {status_source} sa ON sa.record_id = d.person_id_after
        ORDER BY d.candidat_id""")
    return con.table(table)
