"""Blocking analysis: how many pairs each rule generates, how many true pairs it keeps.

Counts are exact and cheap: a rule's own pair count is the sum over key groups of
``n_left × n_right`` (no pair is built); its *marginal* count (pairs no earlier rule generated)
comes from the pairs of every rule formed once and grouped, in slices of the left records. Recall is measured on labelled pairs — by default the stage-1
links (valid, traits-consistent NIR on both sides), which are true pairs the blocking must not lose.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from .._log import get_logger
from .._tables import as_relation, quote_identifier, to_arrow, temp_view
from ..errors import BlockingBudgetError, ConfigError
from .rules import TIGHTENING_KEYS, BlockingRule, get_rules

__all__ = ["BlockingReport", "count_pairs", "count_key_pairs", "analyse_blocking", "choose_rules", "check_budget",
           "fit_rules_to_budget", "DEFAULT_COMPARISON_BUDGET"]

#: pairs blocking may generate before a linkage refuses to run ([linkage] comparison_budget)
DEFAULT_COMPARISON_BUDGET = 200_000_000

log = get_logger(__name__)


def _view(con: duckdb.DuckDBPyConnection, rel, name: str) -> str:
    rel = as_relation(con, rel, name)
    view = f"_blk_{name}"
    temp_view(rel, view)
    return view


def _cond(rule: BlockingRule) -> str:
    return "(" + rule.sql + ")"


def count_pairs(con: duckdb.DuckDBPyConnection, left, right, rule: BlockingRule) -> int:
    """Number of (left, right) pairs the rule generates, computed from key-group sizes.

    Examples:
        >>> import duckdb, pandas as pd
        >>> con = duckdb.connect()
        >>> l = pd.DataFrame({"birth_year": [1980, 1980, 1990]})
        >>> r = pd.DataFrame({"birth_year": [1980, 1990, 1990, None]})
        >>> from appariement.blocking.rules import rule
        >>> count_pairs(con, l, r, rule("yob", "birth_year"))
        4
    """
    return _count_pairs(con, _view(con, left, "l"), _view(con, right, "r"), rule)


def count_key_pairs(con: duckdb.DuckDBPyConnection, left, right, column: str) -> tuple[int, int]:
    """Pairs sharing a value of ``column``, and those of them that cannot all be matches.

    A value held by ``a`` left and ``b`` right records makes ``a * b`` pairs, of which at most
    ``min(a, b)`` are matches when each record has at most one partner; the ``a * b - min(a, b)``
    others are pairs of distinct people sharing the value (a NIR copied, a shared pseudonym).

    Returns:
        (pairs sharing a value, pairs in excess of one partner per record).

    Examples:
        >>> import duckdb, pandas as pd
        >>> con = duckdb.connect()
        >>> l = pd.DataFrame({"nir": ["a", "b", "b", None]})
        >>> r = pd.DataFrame({"nir": ["a", "b", "b", "c"]})
        >>> count_key_pairs(con, l, r, "nir")
        (5, 2)
    """
    lv, rv = _view(con, left, "l"), _view(con, right, "r")
    c = quote_identifier(column)
    row = con.execute(f"""
        WITH gl AS (SELECT {c} AS k, count(*) AS n FROM {lv} WHERE {c} IS NOT NULL GROUP BY ALL),
             gr AS (SELECT {c} AS k, count(*) AS n FROM {rv} WHERE {c} IS NOT NULL GROUP BY ALL)
        SELECT coalesce(sum(gl.n * gr.n), 0)::BIGINT,
               coalesce(sum(gl.n * gr.n - least(gl.n, gr.n)), 0)::BIGINT
        FROM gl JOIN gr USING (k)""").fetchall()[0]
    return int(row[0]), int(row[1])


def _count_pairs(con: duckdb.DuckDBPyConnection, lv: str, rv: str, rule: BlockingRule) -> int:
    lkeys = ", ".join(f"{a} AS k{i}" for i, a in enumerate(rule.left_columns))
    rkeys = ", ".join(f"{b} AS k{i}" for i, b in enumerate(rule.right_columns))
    lnn = " AND ".join(f"{a} IS NOT NULL" for a in rule.left_columns)
    rnn = " AND ".join(f"{b} IS NOT NULL" for b in rule.right_columns)
    on = " AND ".join(f"gl.k{i} = gr.k{i}" for i in range(len(rule.keys)))
    sql = f"""
        WITH gl AS (SELECT {lkeys}, count(*) AS n FROM {lv} WHERE {lnn} GROUP BY ALL),
             gr AS (SELECT {rkeys}, count(*) AS n FROM {rv} WHERE {rnn} GROUP BY ALL)
        SELECT coalesce(sum(gl.n * gr.n), 0)::BIGINT FROM gl JOIN gr ON {on}
    """
    return int(con.execute(sql).fetchall()[0][0])


def _marginal_count(con, lv: str, rv: str, rule: BlockingRule, earlier: list[BlockingRule]) -> int:
    not_earlier = " AND ".join(f"NOT coalesce({_cond(e)}, FALSE)" for e in earlier) or "TRUE"
    sql = f"SELECT count(*) FROM {lv} AS l JOIN {rv} AS r ON {rule.sql} WHERE {not_earlier}"
    return int(con.execute(sql).fetchall()[0][0])


#: up to this many pairs (the rules' own counts summed), marginal counts come from one query
_PAIRS_AT_ONCE = 5_000_000


def _marginal_counts_at_once(con, lv: str, rv: str, rules: list[BlockingRule],
                             parts: int = 1) -> dict[int, int]:
    """New pairs per rule index (a pair counts for the first rule generating it).

    The pairs of every rule are formed and grouped once, in ``parts`` slices of the left
    records (by a hash of their id) so that no more than about ``_PAIRS_AT_ONCE`` pairs are
    held at a time. A rule's new pairs counted on their own join, each filtered by the
    conditions of every earlier rule, cost more than twice as much at 1M x 200k (17 joins,
    each repeating the earlier rules' tests)."""
    out: dict[int, int] = {}
    for part in range(parts):
        keep = f"hash(l.record_id) % {parts} = {part}" if parts > 1 else "TRUE"
        union = " UNION ALL ".join(
            f"SELECT l.record_id AS a, r.record_id AS b, {k} AS k FROM {lv} AS l "
            f"JOIN {rv} AS r ON {rule.sql} WHERE {keep}" for k, rule in enumerate(rules))
        for k, n in con.execute(f"SELECT k, count(*) FROM (SELECT min(k) AS k FROM ({union}) "
                                "GROUP BY a, b) GROUP BY k").fetchall():
            out[k] = out.get(k, 0) + n
    return out


def _label_hits(con, lv: str, rv: str, labels_view: str, rules: list[BlockingRule]) -> list[int]:
    """For each rule, the number of labelled pairs it or an earlier rule keeps (cumulative)."""
    if not rules:
        return []
    cols = []
    for k in range(len(rules)):
        any_upto = " OR ".join(f"coalesce({_cond(r)}, FALSE)" for r in rules[: k + 1])
        cols.append(f"sum(CASE WHEN {any_upto} THEN 1 ELSE 0 END)::BIGINT AS c{k}")
    sql = f"""
        SELECT {", ".join(cols)}
        FROM {labels_view} AS p
        JOIN {lv} AS l ON l.record_id = p.record_id_l
        JOIN {rv} AS r ON r.record_id = p.record_id_r
    """
    row = con.execute(sql).fetchall()[0]
    return [int(x or 0) for x in row]


@dataclass
class BlockingReport:
    """Result of :func:`analyse_blocking`.

    Attributes:
        table: one row per rule in order: rule, description, pairs (the rule alone),
            marginal_pairs (not generated by an earlier rule), cumulative_pairs,
            and, with labels, cumulative_recall (share of labelled true pairs kept so far).
        n_labels: number of labelled pairs used for recall (0 without labels).
    """

    table: pa.Table
    n_labels: int

    @property
    def total_pairs(self) -> int:
        col = self.table.column("cumulative_pairs").to_pylist()
        return col[-1] if col else 0

    @property
    def recall(self) -> float | None:
        if not self.n_labels:
            return None
        return self.table.column("cumulative_recall").to_pylist()[-1]


def analyse_blocking(con: duckdb.DuckDBPyConnection, left, right, rules, *, labels=None,
                     labels_left=None, labels_right=None,
                     budget: int | None = None) -> BlockingReport:
    """Pairs per rule, cumulative pairs and (with labels) cumulative recall.

    Args:
        con: DuckDB connection.
        left, right: standardised features of the platform and the source (``record_id`` and the
            columns the rules use).
        rules: rule names from :data:`FRENCH_RULES` or :class:`BlockingRule` objects, in order.
        labels: optional table of true pairs with ``record_id_l``, ``record_id_r``.
        labels_left, labels_right: the features the labelled records are looked up in, when they
            are not in ``left`` / ``right`` (the cascade counts pairs on the stage-2 pools but
            measures recall on the stage-1 links, which left the pools).
        budget: when given, first check it as :func:`check_budget` does (raising
            :class:`BlockingBudgetError` before any pair is formed), reusing the rules' own
            counts for the report.

    Returns:
        A :class:`BlockingReport`.
    """
    rules = get_rules(rules)
    lv, rv = _view(con, left, "l"), _view(con, right, "r")
    labels_view = _view(con, labels, "labels") if labels is not None else None
    lab_lv = _view(con, labels_left, "lab_l") if labels_left is not None else lv
    lab_rv = _view(con, labels_right, "lab_r") if labels_right is not None else rv
    own = _check_budget(con, lv, rv, rules, budget) if budget is not None else None
    return _analyse(con, lv, rv, rules, labels_view, lab_lv, lab_rv, own=own)


def _analyse(con, lv: str, rv: str, rules: list[BlockingRule], labels_view: str | None,
             lab_lv: str | None = None, lab_rv: str | None = None,
             own: list[int] | None = None) -> BlockingReport:
    n_labels = 0
    hits: list[int] = []
    if labels_view is not None:
        n_labels = int(con.execute(f"SELECT count(*) FROM {labels_view}").fetchall()[0][0])
        hits = _label_hits(con, lab_lv or lv, lab_rv or rv, labels_view, rules)
    rows = {"rule": [], "description": [], "pairs": [], "marginal_pairs": [],
            "cumulative_pairs": []}
    if own is None:
        own = [_count_pairs(con, lv, rv, r) for r in rules]
    # form the pairs once and credit each to the first rule that generates it; many pairs: in
    # slices of the left records, never holding them all
    by_first = _marginal_counts_at_once(con, lv, rv, rules,
                                        parts=max(1, -(-sum(own) // _PAIRS_AT_ONCE)))
    cumulative = 0
    for k, r in enumerate(rules):
        own_k = own[k]
        marginal = by_first.get(k, 0)
        cumulative += marginal
        rows["rule"].append(r.name)
        rows["description"].append(r.description)
        rows["pairs"].append(own_k)
        rows["marginal_pairs"].append(marginal)
        rows["cumulative_pairs"].append(cumulative)
        log.info("blocking rule %s: %d pairs, %d new, %d cumulative", r.name, own_k, marginal,
                 cumulative)
    if labels_view is not None:
        rows["cumulative_recall"] = [h / n_labels if n_labels else None for h in hits]
    return BlockingReport(pa.table(rows), n_labels)


def check_budget(con: duckdb.DuckDBPyConnection, left, right, rules, budget: int) -> int:
    """Raise :class:`BlockingBudgetError` before linking if the rules exceed ``budget`` pairs.

    The check is cheap: it first sums the rules' own counts (an upper bound of the real total);
    only when that bound exceeds the budget does it count the exact cumulative total.

    Returns:
        The sum of the rules' own pair counts (an upper bound of the distinct pairs).
    """
    rules = get_rules(rules)
    lv, rv = _view(con, left, "l"), _view(con, right, "r")
    return sum(_check_budget(con, lv, rv, rules, budget))


def _check_budget(con, lv: str, rv: str, rules: list[BlockingRule], budget: int) -> list[int]:
    """The rules' own pair counts, after checking ``budget`` (see :func:`check_budget`)."""
    if budget <= 0:
        raise ConfigError(f"comparison budget must be positive, got {budget}")
    own = [_count_pairs(con, lv, rv, r) for r in rules]
    if sum(own) <= budget:
        return own
    report = _analyse(con, lv, rv, rules, None, own=own)
    total = report.total_pairs
    if total > budget:
        worst = max(zip(report.table.column("rule").to_pylist(),
                        report.table.column("marginal_pairs").to_pylist()), key=lambda x: x[1])
        raise BlockingBudgetError(
            f"the blocking rules would generate {total:,} pairs, over the budget of {budget:,}; "
            f"rule {worst[0]!r} alone adds {worst[1]:,}. Drop or tighten rules "
            f"(see appariement.blocking.analyse_blocking) or raise the budget.")
    return own


def choose_rules(con: duckdb.DuckDBPyConnection, left, right, candidates, *, budget: int,
                 labels=None, min_gain: float = 0.0) -> list[BlockingRule]:
    """Choose blocking rules under a comparison budget.

    With labels, a greedy forward selection: at each step add the rule that keeps the most new
    labelled pairs (ties: the one adding fewer comparisons), while the total stays within
    ``budget``; stop when no rule adds more than ``min_gain`` recall. Without labels, keep ``candidates`` in order while the
    total stays within budget.

    Returns:
        The chosen rules, in order.
    """
    pool = get_rules(candidates)
    chosen: list[BlockingRule] = []
    total = 0
    lv, rv = _view(con, left, "l"), _view(con, right, "r")
    labels_view = _view(con, labels, "labels") if labels is not None else None
    n_labels = (int(con.execute(f"SELECT count(*) FROM {labels_view}").fetchall()[0][0])
                if labels_view else 0)
    kept = 0
    while pool:
        best = None
        for r in pool:
            marginal = _marginal_count(con, lv, rv, r, chosen)
            if total + marginal > budget:
                continue
            if labels_view and n_labels:
                gain = _label_hits(con, lv, rv, labels_view, chosen + [r])[-1] - kept
                score = (gain / n_labels, -marginal)
                if gain / n_labels <= min_gain:
                    continue
            else:
                gain, score = 0, (0.0, 0)
            if best is None or score > best[0] or not labels_view:
                best = (score, r, marginal, gain)
            if not labels_view:
                break
        if best is None:
            break
        _, r, marginal, gain = best
        chosen.append(r)
        pool.remove(r)
        total += marginal
        kept += gain
        log.info("chose blocking rule %s (+%d pairs, total %d)", r.name, marginal, total)
    return chosen


def fit_rules_to_budget(con: duckdb.DuckDBPyConnection, left, right, rules, *,
                        max_pairs_per_rule: int, present,
                        tightening: tuple[str, ...] = TIGHTENING_KEYS,
                        reduced_cap_share: float = 0.05
                        ) -> tuple[list[BlockingRule], list[dict]]:
    """Tighten the rules that alone generate more than ``max_pairs_per_rule`` pairs.

    A rule that :func:`~appariement.blocking.rules.adapt_rules` reduced to a single key (its
    name holds ``-``) is held to ``reduced_cap_share`` of the cap: it was made selective and is
    now broad, worth keeping on small files, not on large ones.

    A rule over the cap gets, in turn, the keys of ``tightening`` that are present on both
    sides and not yet in it (``dob`` becomes ``dob+first_name_phon``), until it fits; a rule
    that cannot fit is dropped. Each change is returned (and logged) so that the model says
    why its rules differ from the defaults. Counting costs one grouped join per rule.

    Returns:
        (rules, changes) — changes as ``{"rule", "action", "pairs", ...}``.
    """
    present = set(present)
    lv, rv = _view(con, left, "l"), _view(con, right, "r")
    out: list[BlockingRule] = []
    changes: list[dict] = []
    seen = set()
    for r in get_rules(rules):
        n = _count_pairs(con, lv, rv, r)
        original = r
        cap = (int(max_pairs_per_rule * reduced_cap_share)
               if len(r.keys) == 1 and "-" in r.name else max_pairs_per_rule)
        extra = [k for k in tightening
                 if k in present and k not in r.left_columns and k not in r.right_columns]
        while n > cap and extra:
            key = extra.pop(0)
            r = BlockingRule(f"{r.name}+{key}", (*r.keys, (key, key)),
                             f"{r.description} (and same {key}: the rule alone made too "
                             "many pairs)")
            n = _count_pairs(con, lv, rv, r)
        if n > cap:
            changes.append({"rule": original.name, "action": "dropped", "pairs": n,
                            "reason": f"over {cap:,} pairs even tightened"})
            log.warning("blocking rule %s dropped: %d pairs even tightened (cap %d)",
                        original.name, n, cap)
            continue
        if r is not original:
            changes.append({"rule": r.name, "action": "tightened", "pairs": n,
                            "from": original.name})
            log.info("blocking rule %s tightened into %s (%d pairs)", original.name, r.name, n)
        if frozenset(r.keys) in seen:
            continue
        seen.add(frozenset(r.keys))
        out.append(r)
    # a rule whose keys include all of another's generates no pair that one does not
    redundant = [r for r in out if any(set(o.keys) < set(r.keys) for o in out)]
    for r in redundant:
        changes.append({"rule": r.name, "action": "dropped", "reason": "redundant"})
    return [r for r in out if r not in redundant], changes
