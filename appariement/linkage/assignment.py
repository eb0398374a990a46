"""Assignment: one candidate ↔ at most one source person, and the match / review / non-match decision.

One-to-one assignment is greedy by weight, run as rounds of *mutual best* pairs in SQL: a pair is
accepted when it is the best pair of its candidate and of its person; accepted records leave the
pool; repeat. Greedy-by-weight and mutual-best agree when there are no ties; exact ties (a record
whose best weight is shared by two pairs) are never resolved at random: the record is set aside as
``tie`` so a reviewer decides. Many-to-one keeps each candidate's best person (several candidates
may point to one person, e.g. duplicate platform accounts).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from .._log import get_logger
from .._tables import temp_view
from ..errors import ConfigError

__all__ = ["Thresholds", "assign", "ASSIGNMENT_MODES"]

log = get_logger(__name__)

ASSIGNMENT_MODES = ("one_to_one", "many_to_one")


@dataclass(frozen=True)
class Thresholds:
    """Two thresholds on the match probability.

    ``match_probability >= match`` → match; ``>= review`` → review; below → non_match.

    Examples:
        >>> Thresholds(match=0.9, review=0.5).decision_sql("p")
        "CASE WHEN p >= 0.9 THEN 'match' WHEN p >= 0.5 THEN 'review' ELSE 'non_match' END"
    """

    match: float = 0.9
    review: float = 0.5

    def __post_init__(self):
        if not (0.0 <= self.review <= self.match <= 1.0):
            raise ConfigError(f"thresholds need 0 <= review <= match <= 1, got review="
                              f"{self.review}, match={self.match}")

    def decision_sql(self, column: str = "match_probability") -> str:
        return (f"CASE WHEN {column} >= {self.match!r} THEN 'match' "
                f"WHEN {column} >= {self.review!r} THEN 'review' ELSE 'non_match' END")


def assign(con: duckdb.DuckDBPyConnection, pairs: duckdb.DuckDBPyRelation, *,
           mode: str = "one_to_one", min_probability: float = 0.0,
           prefix: str = "_app_assign") -> tuple[duckdb.DuckDBPyRelation, duckdb.DuckDBPyRelation]:
    """Resolve scored pairs into at most one person per candidate (and, one-to-one, vice versa).

    Args:
        con: DuckDB connection.
        pairs: relation with ``record_id_l``, ``record_id_r``, ``match_weight``,
            ``match_probability`` (other columns are carried along).
        mode: ``"one_to_one"`` or ``"many_to_one"``.
        min_probability: pairs below this probability are not considered.
        prefix: name prefix of the tables created on ``con``.

    Returns:
        ``(assigned, set_aside)``: the assigned pairs (all input columns plus ``assign_round``),
        and the pairs not assigned with ``reason`` ('tie' — the record's best weight is shared;
        'conflict_lost' — a competing pair with a higher weight took the other record) and
        ``competitor_weight``.
    """
    if mode not in ASSIGNMENT_MODES:
        raise ConfigError(f"assignment mode must be one of {ASSIGNMENT_MODES}, got {mode!r}")
    temp_view(pairs, f"{prefix}_in")
    pool = f"{prefix}_pool"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {pool} AS
                    SELECT * FROM {prefix}_in WHERE match_probability >= {float(min_probability)!r}""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {prefix}_acc AS "
                f"SELECT *, 0 AS assign_round FROM {pool} LIMIT 0")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {prefix}_ties AS "
                f"SELECT record_id_l, record_id_r FROM {pool} LIMIT 0")
    sides = ("record_id_l", "record_id_r") if mode == "one_to_one" else ("record_id_l",)
    round_no = 0
    while True:
        round_no += 1
        # best weight of each record, and how many pairs reach it
        best = []
        for side in sides:
            best.append(f"""
                {side}_best AS (SELECT {side}, max(match_weight) AS w FROM {pool} GROUP BY 1),
                {side}_top AS (SELECT p.{side}, count(*) AS n_top FROM {pool} p
                               JOIN {side}_best b USING ({side}) WHERE p.match_weight = b.w
                               GROUP BY 1)""")
        is_best = " AND ".join(
            f"p.match_weight = (SELECT w FROM {s}_best b WHERE b.{s} = p.{s})" for s in sides)
        tied = " OR ".join(
            f"(SELECT n_top FROM {s}_top t WHERE t.{s} = p.{s}) > 1" for s in sides)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {prefix}_round AS
            WITH {",".join(best)}
            SELECT p.*, ({tied}) AS tied FROM {pool} p WHERE {is_best}
        """)
        n_acc = con.execute(f"SELECT count(*) FROM {prefix}_round WHERE NOT tied").fetchall()[0][0]
        n_tie = con.execute(f"SELECT count(*) FROM {prefix}_round WHERE tied").fetchall()[0][0]
        if n_acc == 0 and n_tie == 0:
            break
        con.execute(f"INSERT INTO {prefix}_acc SELECT * EXCLUDE (tied), {round_no} "
                    f"FROM {prefix}_round WHERE NOT tied")
        con.execute(f"INSERT INTO {prefix}_ties SELECT record_id_l, record_id_r "
                    f"FROM {prefix}_round WHERE tied")
        # remove every pair touching an accepted record, and the tied candidates
        drop = [f"record_id_l IN (SELECT record_id_l FROM {prefix}_round)"]
        if mode == "one_to_one":
            drop.append(f"record_id_r IN (SELECT record_id_r FROM {prefix}_round WHERE NOT tied)")
        con.execute(f"DELETE FROM {pool} WHERE {' OR '.join(drop)}")
        log.debug("assignment round %d: %d accepted, %d tied", round_no, n_acc, n_tie)
        if mode == "many_to_one":
            break
    # what was not assigned, and why
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {prefix}_aside AS
        WITH cand AS (SELECT * FROM {prefix}_in WHERE match_probability >= {float(min_probability)!r}),
        not_assigned AS (
            SELECT c.* FROM cand c ANTI JOIN {prefix}_acc a
                ON a.record_id_l = c.record_id_l AND a.record_id_r = c.record_id_r)
        SELECT n.record_id_l, n.record_id_r, n.match_weight, n.match_probability,
               CASE WHEN t.record_id_l IS NOT NULL THEN 'tie' ELSE 'conflict_lost' END AS reason,
               greatest(al.match_weight, ar.match_weight) AS competitor_weight
        FROM not_assigned n
        LEFT JOIN (SELECT DISTINCT record_id_l FROM {prefix}_ties) t ON t.record_id_l = n.record_id_l
        LEFT JOIN {prefix}_acc al ON al.record_id_l = n.record_id_l
        LEFT JOIN {prefix}_acc ar ON ar.record_id_r = n.record_id_r AND '{mode}' = 'one_to_one'
    """)
    return con.table(f"{prefix}_acc"), con.table(f"{prefix}_aside")
