"""The cascade: exact match on the pivot code / keyed NIR, then probabilistic linkage on traits.

Stage 1 links a candidate to a source person when both carry the same key (plaintext NIR in the
single-machine mode, keyed pseudonym or pivot code otherwise) and the NIR is *trusted* on both
sides: valid, and consistent with the declared traits (a NIR that disagrees with its own record's
sex / birth year / month / place may be somebody else's). A key match whose traits strongly
disagree, or that is ambiguous (one key, several records), goes to review, not to the links.

Stage 2 trains a Fellegi-Sunter model (u by random sampling; m from the stage-1 links, which are a
built-in labelled set, then EM; the prior from the stage-1 coverage) and scores the records stage 1
left unlinked. An assignment step keeps at most one person per candidate (one-to-one by default);
two thresholds give match / review / non_match.

Every candidate ends either in ``links`` or in ``unlinked_platform`` with the reason; every source
person either linked or in ``unlinked_source``. Nothing is dropped silently.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import duckdb
import pyarrow.parquet as pq

from .._atomic import atomic_path, write_json
from .._log import get_logger, step
from .._tables import as_relation, drop_relation, fresh_name, temp_table, temp_view, to_arrow
from ..blocking.analysis import DEFAULT_COMPARISON_BUDGET, BlockingReport, analyse_blocking
from ..blocking.rules import get_rules
from ..errors import ConfigError, LinkageError
from ..identity import birth_date_summary
from ..identity.consistency import CONSISTENCY_STATUSES, TRUSTED_CONSISTENCY
from ._backend import make_backend
from .assignment import ASSIGNMENT_MODES, Thresholds, assign
from .model import LinkageModel, splink_failures

__all__ = ["LinkageConfig", "LinkageResult", "Linkage", "link", "unlinked_source_sql"]

log = get_logger(__name__)



@dataclass
class LinkageConfig:
    """Options of the cascade (all have working defaults).

    Attributes:
        key_column: the exact-stage key present on both sides (``nir``, a pseudonym or a pivot
            code column); None disables stage 1 (traits-only linkage).
        trusted_consistency: NIR consistency statuses trusted for the exact stage.
        recheck_exact: score stage-1 links with the model; with the key among its comparisons
            (the default) the thresholds decide on the pair's probability, as in stage 2;
            without it, a link goes to review when the traits' own Bayes factor (without the
            random-pair prior) favours a non-match.
        thresholds: match / review thresholds on the match probability.
        assignment: ``one_to_one`` or ``many_to_one``.
        blocking_rules, training_rules: rule names or objects; None (the default): the
            library's, adapted to the features at hand (see :meth:`LinkageModel.plan`).
        key_is_nir: the key holds plaintext NIRs (None: decided from its values).
        max_pairs_per_rule: a blocking rule making more pairs alone is tightened (None:
            ``max(1e6, 200 x platform records)``).
        comparison_budget: fail before linking if blocking would generate more pairs.
        pairs_per_chunk: score blocked pairs in chunks of about this many (peak memory; at 1M x
            200k with the NIR, 9.3M pairs: one chunk 2.9 GB peak, two chunks 2.0 GB, for about
            a fifth more scoring time).
        min_report_probability: pairs below this probability are not kept at all.
        backend: ``duckdb`` or ``spark``.
        u_max_pairs, em, em_max_pairs, m_from_labels, seed: training options (see
            LinkageModel).
    """

    key_column: str | None = "nir"
    trusted_consistency: tuple[str, ...] = TRUSTED_CONSISTENCY
    recheck_exact: bool = True
    thresholds: Thresholds = field(default_factory=Thresholds)
    assignment: str = "one_to_one"
    blocking_rules: tuple | None = None
    training_rules: tuple | None = None
    key_is_nir: bool | None = None
    max_pairs_per_rule: int | None = None
    comparison_budget: int = DEFAULT_COMPARISON_BUDGET
    pairs_per_chunk: int = 5_000_000
    min_report_probability: float = 0.01
    backend: str = "duckdb"
    u_max_pairs: float = 3e5
    em: bool | str = "auto"
    em_max_pairs: float | None = 5e5
    m_from_labels: bool = True
    seed: int = 42

    def __post_init__(self):
        if isinstance(self.thresholds, dict):
            self.thresholds = Thresholds(**self.thresholds)
        bad = set(self.trusted_consistency) - set(CONSISTENCY_STATUSES)
        if bad:
            raise ConfigError(f"trusted_consistency has unknown statuses {sorted(bad)}; "
                              f"allowed: {', '.join(CONSISTENCY_STATUSES)}")
        if self.assignment not in ASSIGNMENT_MODES:
            raise ConfigError(f"assignment must be one of {', '.join(ASSIGNMENT_MODES)}, "
                              f"got {self.assignment!r}")
        if self.pairs_per_chunk < 1:
            raise ConfigError(f"pairs_per_chunk must be positive, got {self.pairs_per_chunk}")
        if not 0 <= self.min_report_probability <= self.thresholds.review:
            raise ConfigError("min_report_probability must be between 0 and thresholds.review")
        for name in ("blocking_rules", "training_rules"):
            rules = getattr(self, name)
            if rules is not None:
                setattr(self, name, tuple(rules))
                get_rules(rules)

    def model(self) -> LinkageModel:
        return LinkageModel(blocking_rules=self.blocking_rules,
                            training_rules=self.training_rules, u_max_pairs=self.u_max_pairs,
                            em=self.em, em_max_pairs=self.em_max_pairs,
                            m_from_labels=self.m_from_labels, seed=self.seed,
                            backend=self.backend, key_column=self.key_column,
                            key_is_nir=self.key_is_nir,
                            max_pairs_per_rule=self.max_pairs_per_rule)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("blocking_rules", "training_rules"):
            rules = getattr(self, name)
            d[name] = [r.name for r in get_rules(rules)] if rules is not None else None
        return d


@dataclass
class LinkageResult:
    """What the cascade produced (DuckDB relations on ``con``).

    The relations read session-only tables with fresh names (``Linkage.run(...,
    keep_tables=True)`` names them ``links``, ``pairs``, ... instead); :meth:`drop` drops them.

    Attributes:
        links: candidat_id, person_id, method (pivot_exact / probabilistic), match_weight,
            match_probability, decision (match / review / non_match), why (the comparison levels
            in words), the gamma_ / mw_ columns behind it, and ``nir_consistency_platform`` /
            ``nir_consistency_source`` (does each side's NIR agree with its declared traits).
        unlinked_platform: candidat_id, reason, best_person_id, best_match_probability.
        unlinked_source: person_id, reason.
        set_aside: pairs not kept by the assignment or the exact-stage guards, with the reason.
        pairs: every scored pair (stage-1 links scored by the traits model, and the stage-2
            pairs at or above ``min_report_probability``): candidat_id, person_id, stage
            (1 or 2), match_weight, match_probability, gamma_* and mw_* — the input of label-free
            error estimates and threshold tuning.
        model: the fitted :class:`LinkageModel`.
        blocking: blocking analysis: pairs per rule on the stage-2 pools, cumulative recall on
            the stage-1 links.
        counts: figures of every step.
        timings: seconds per step.
        training_labels: the pairs m was estimated on (record_id_l, record_id_r), or None.
    """

    con: duckdb.DuckDBPyConnection
    links: duckdb.DuckDBPyRelation
    unlinked_platform: duckdb.DuckDBPyRelation
    unlinked_source: duckdb.DuckDBPyRelation
    set_aside: duckdb.DuckDBPyRelation
    pairs: duckdb.DuckDBPyRelation
    model: LinkageModel
    blocking: BlockingReport | None
    counts: dict[str, Any]
    timings: dict[str, float]
    config: LinkageConfig
    training_labels: duckdb.DuckDBPyRelation | None = None

    def drop(self) -> None:
        """Drop the result's session-only tables (the named ones of ``keep_tables`` stay)."""
        for rel in (self.links, self.unlinked_platform, self.unlinked_source, self.set_aside,
                    self.pairs, self.training_labels):
            if rel is not None and rel.alias.startswith("_app_"):
                drop_relation(self.con, rel.alias)

    def write(self, out_dir: str | Path) -> dict[str, str]:
        """Write links, unlinked records, set-aside pairs (Parquet), the model and the counts
        (JSON), each atomically. Returns output name → path."""
        from .._paths import private_dir  # folders 0700, as the command line makes them

        out_dir = private_dir(out_dir)
        written = {}
        for name in ("links", "unlinked_platform", "unlinked_source", "set_aside", "pairs"):
            rel = getattr(self, name)
            with atomic_path(out_dir / f"{name}.parquet") as tmp:
                pq.write_table(to_arrow(rel), tmp)
            written[name] = str(out_dir / f"{name}.parquet")
        written["model"] = str(self.model.save(out_dir / "model.json"))
        if self.blocking is not None:
            with atomic_path(out_dir / "blocking.parquet") as tmp:
                pq.write_table(self.blocking.table, tmp)
            written["blocking"] = str(out_dir / "blocking.parquet")
        written["counts"] = str(write_json(out_dir / "linkage_counts.json",
                                           {"counts": self.counts,
                                            "config": self.config.to_dict()}))
        return written


class Linkage:
    """The cascade, on one DuckDB connection.

    Args:
        config: a :class:`LinkageConfig` (defaults if None).
        con: DuckDB connection (new in-memory one if None).
        spark: Spark session for ``backend="spark"`` (a local one is started if None).
        model: a fitted model to reuse instead of training one, or an unfitted
            :class:`LinkageModel` carrying custom comparisons or rules, trained here with the
            cascade's labels and prior (e.g. ``LinkageModel(comparisons=[...])``).

    Examples:
        >>> Linkage(LinkageConfig(key_column=None)).config.key_column is None
        True
    """

    def __init__(self, config: LinkageConfig | None = None, *,
                 con: duckdb.DuckDBPyConnection | None = None, spark=None,
                 model: LinkageModel | None = None):
        self.config = config or LinkageConfig()
        self.con = con or duckdb.connect()
        self._spark = spark
        self._model = model

    # -------------------------------------------------------------- helpers
    def _sql(self, sql: str):
        return self.con.execute(sql)

    def _pool_columns(self, model: LinkageModel) -> str:
        """The columns stage 2 reads (record_id, the model's, which include its blocking
        rules'): the pools copy only these (half of the features with the default model)."""
        if model.comparisons is not None and model.columns is None:
            return "*"  # user comparisons without declared columns may read any of them
        wanted = dict.fromkeys(["record_id", *model.columns_])
        present = (set(self.con.table(self._t["P"]).columns)
                   & set(self.con.table(self._t["S"]).columns))
        return ", ".join(f'"{c}"' for c in wanted if c in present)

    def _drop(self, name: str) -> None:
        drop_relation(self.con, name)

    def _view(self, name: str, sql: str) -> None:
        self._drop(name)
        self._sql(f"CREATE TEMP VIEW {name} AS {sql}")

    def _snapshot(self, name: str, rel: duckdb.DuckDBPyRelation) -> None:
        """``name`` = the input features, read many times: a view of a stored table, else a
        table (a lazy relation, e.g. unmaterialised standardisation, is computed once)."""
        self._drop(name)
        if rel.type == "TABLE_RELATION":
            temp_view(rel, name)
        else:
            temp_table(rel, name)

    def _count(self, table: str, where: str = "TRUE") -> int:
        return int(self._sql(f"SELECT count(*) FROM {table} WHERE {where}").fetchall()[0][0])

    def _why_sql(self, model: LinkageModel, alias: str = "") -> str:
        parts = []
        for comp, mapping in model.level_labels().items():
            col = f"{alias}gamma_{comp}"
            cases = " ".join(f"WHEN {g} THEN '{label.replace(chr(39), chr(39) * 2)}'"
                             for g, label in mapping.items())
            parts.append(f"'{comp}: ' || CASE {col} {cases} ELSE '?' END")
        return " || '; ' || ".join(parts) if parts else "''"

    def _consistency_columns(self) -> str:
        """Which side's declared traits disagree with its own NIR, for every link: information
        for the reader (the linkage used it as evidence, never as a verdict)."""
        if not all("nir_consistency" in self.con.table(self._t[side]).columns
                   for side in ("P", "S")):
            return ""
        return (f",\n                   (SELECT nir_consistency FROM {self._t['P']} "
                "WHERE record_id = "
                "u.record_id_l) AS nir_consistency_platform,\n"
                f"                   (SELECT nir_consistency FROM {self._t['S']} "
                "WHERE record_id = "
                "u.record_id_r) AS nir_consistency_source")

    def _plan_counts(self, model: LinkageModel, counts: dict[str, Any]) -> None:
        """What the model was built from and with, and how the birth dates were read: into the
        counts (hence ``linkage_counts.json`` and the run manifest); unread dates are logged."""
        if hasattr(model, "profile_"):
            counts["features_absent"] = model.profile_.to_dict()["absent"]
        for entry in getattr(model, "plan_log_", []):
            if entry["step"] in ("comparisons", "blocking_rules", "training_rules"):
                counts[f"model_{entry['step']}"] = entry["chosen"]
        for side, table in (("platform", self._t["P"]), ("source", self._t["S"])):
            rel = self.con.table(table)
            if "birth_date_status" not in rel.columns:
                continue
            summary = birth_date_summary(rel)
            counts[f"{side}_birth_dates"] = summary
            if summary["unparsed"]:
                log.warning("%s: %d birth dates could not be read (no accepted form or an "
                            "impossible date); they count as missing", side, summary["unparsed"])
            for status in ("us_order", "two_digit_year"):
                if summary[status]:
                    log.info("%s: %d birth dates read as %s", side, summary[status],
                             status.replace("_", " "))

    # -------------------------------------------------------------- stage 1
    def _key_checks(self, key: str) -> bool:
        """Whether the exact stage checks the key's NIR (validity and consistency with the
        declared traits): yes for a NIR, and for a pivot code or pseudonym whose features carry
        the NIR's flags; no for an opaque key the producers hashed themselves (``hash_nir``: no
        key holder has a valid NIR on one side, and the key is not the NIR column)."""
        needed = (key, "nir_valid", "nir_consistency")
        for side in ("P", "S"):
            cols = self.con.table(self._t[side]).columns
            if key not in cols:
                raise LinkageError(
                    f"exact stage on {key!r} needs column {key!r} in the "
                    f"{'platform' if side == 'P' else 'source'} features; set key_column=None "
                    "for traits-only linkage")
            if key == "nir" and any(c not in cols for c in needed):
                missing = next(c for c in needed if c not in cols)
                raise LinkageError(
                    f"exact stage on {key!r} needs column {missing!r} in the "
                    f"{'platform' if side == 'P' else 'source'} features; build them with "
                    "appariement.identity.standardise_identities")
        if self.config.key_is_nir or key == "nir":
            return True
        for side in ("P", "S"):
            cols = self.con.table(self._t[side]).columns
            if "nir_valid" not in cols or "nir_consistency" not in cols:
                return False
            if not self._count(self._t[side], f"{key} IS NOT NULL AND coalesce(nir_valid, FALSE)"):
                return False
        return True

    def _stage1(self, counts: dict[str, Any]) -> None:
        """Stage 1: key pairs, their guards, and the training labels (tables ``s1_pairs``,
        ``s1``, ``train_labels`` of this run)."""
        cfg = self.config
        t = self._t
        key = cfg.key_column
        trusted = ", ".join(f"'{s}'" for s in cfg.trusted_consistency)
        checked = self._key_checks(key)
        if checked:
            is_valid = f"{{t}}.{key} IS NOT NULL AND coalesce({{t}}.nir_valid, FALSE)"
            is_consistent = f"{{t}}.nir_consistency IN ({trusted})"
        else:
            # an opaque key hashed by the producers (hash_nir): no NIR to check it against;
            # a shared key is trusted, the traits guard below still applies
            log.info("exact stage on %s: an opaque key without NIR checks", key)
            is_valid = f"{{t}}.{key} IS NOT NULL"
            is_consistent = "TRUE"
        is_trusted = f"{is_valid} AND {is_consistent}"
        # Key pairs with a valid NIR on both sides. Links need consistent NIRs too; the training
        # labels do not, because the consistency check compares the NIR with the birth year and
        # month: requiring it would select the labelled pairs on their birth dates and bias the
        # m probabilities of the birth-date levels (year errors and swaps would look impossible).
        self._sql(f"""
            CREATE OR REPLACE TEMP TABLE {t["s1_pairs"]} AS
            SELECT p.record_id AS record_id_l, s.record_id AS record_id_r,
                   ({is_consistent.format(t='p')} AND {is_consistent.format(t='s')}) AS trusted,
                   count(*) OVER (PARTITION BY p.record_id) AS n_valid_l,
                   count(*) OVER (PARTITION BY s.record_id) AS n_valid_r,
                   sum(CASE WHEN {is_consistent.format(t='p')} AND {is_consistent.format(t='s')}
                            THEN 1 ELSE 0 END) OVER (PARTITION BY p.record_id) AS n_for_l,
                   sum(CASE WHEN {is_consistent.format(t='p')} AND {is_consistent.format(t='s')}
                            THEN 1 ELSE 0 END) OVER (PARTITION BY s.record_id) AS n_for_r,
                   -- traits guard: both names differ, or the whole birth date differs
                   (coalesce(jaro_winkler_similarity(p.birth_name, s.birth_name) >= 0.85, FALSE)
                    -- an inversion of name and first name is a clerical error, not another
                    -- person: excluding it would bias the m of the inverted levels to zero
                    OR coalesce(jaro_winkler_similarity(p.birth_name, s.first_name) >= 0.85
                                AND jaro_winkler_similarity(p.first_name, s.birth_name) >= 0.85,
                                FALSE)
                    OR coalesce(p.usage_name = s.birth_name, FALSE)
                    OR coalesce(p.birth_name = s.usage_name, FALSE)
                    OR coalesce(p.usage_name = s.usage_name, FALSE)
                    OR p.birth_name IS NULL OR s.birth_name IS NULL) AS name_ok,
                   (coalesce(jaro_winkler_similarity(p.first_name, s.first_name) >= 0.85, FALSE)
                    OR coalesce(list_has_any(p.first_names, s.first_names), FALSE)
                    OR p.first_name IS NULL OR s.first_name IS NULL) AS first_ok,
                   (coalesce(p.birth_year = s.birth_year, TRUE)
                    OR coalesce(p.birth_month = s.birth_month AND p.birth_day = s.birth_day,
                                FALSE)) AS date_ok,
                   coalesce(p.sex = s.sex, TRUE) AS sex_ok
            FROM {t["P"]} p JOIN {t["S"]} s ON p.{key} = s.{key}
            WHERE {is_valid.format(t='p')} AND {is_valid.format(t='s')}
        """)
        ambiguous = ("n_for_l > 1" if cfg.assignment == "many_to_one"
                     else "(n_for_l > 1 OR n_for_r > 1)")
        traits_agree = "((name_ok OR first_ok) AND (date_ok OR sex_ok))"
        self._sql(f"""
            CREATE OR REPLACE TEMP TABLE {t["s1"]} AS
            SELECT record_id_l, record_id_r,
                   CASE WHEN {ambiguous} THEN 'exact_key_ambiguous'
                        WHEN NOT {traits_agree} THEN 'exact_key_traits_disagree'
                        ELSE NULL END AS guard
            FROM {t["s1_pairs"]} WHERE trusted
        """)
        self._sql(f"""
            CREATE OR REPLACE TEMP TABLE {t["train_labels"]} AS
            SELECT record_id_l, record_id_r FROM {t["s1_pairs"]}
            WHERE n_valid_l = 1 AND n_valid_r = 1 AND {traits_agree}
        """)
        counts["stage1_key_pairs"] = self._count(t["s1"])
        counts["stage1_ambiguous"] = self._count(t["s1"], "guard = 'exact_key_ambiguous'")
        counts["stage1_traits_disagree"] = self._count(
            t["s1"], "guard = 'exact_key_traits_disagree'")
        counts["stage1_links"] = self._count(t["s1"], "guard IS NULL")
        counts["platform_trusted_key"] = self._count(t["P"], is_trusted.format(t=t["P"]))
        counts["source_trusted_key"] = self._count(t["S"], is_trusted.format(t=t["S"]))

    # -------------------------------------------------------------- run
    #: the result's tables, named so with ``keep_tables=True``
    OUTPUTS = ("links", "unlinked_platform", "unlinked_source", "set_aside", "pairs")
    #: the working tables of one run (session-only, fresh names, dropped at its end)
    _WORK = ("P", "S", "s1_pairs", "s1", "labels", "P2", "S2", "s2_preds", "s2_links",
             "stage1_left", "stage1_right", "s1_preds", "s1_links", "assign")

    def run(self, platform, source, *, keep_tables: bool = False) -> LinkageResult:
        """Link platform candidates to source persons.

        Args:
            platform: standardised platform features
                (:func:`appariement.identity.standardise_identities` with ``side="platform"``).
            source: standardised source features (``side="source"``).
            keep_tables: also write the result as tables named ``links``, ``pairs``,
                ``set_aside``, ``unlinked_platform``, ``unlinked_source`` (replacing tables of
                those names) on the connection, for SQL by name. By default the result's tables
                are session-only tables with fresh names (the result's relations), and nothing
                is written into the connection's database.

        Returns:
            A :class:`LinkageResult`.

        Raises:
            LinkageError: the linkage cannot run on these inputs (no usable feature, blocking
                over budget, ...) — also when Splink itself fails: no Splink or DuckDB
                exception reaches the caller.
        """
        with splink_failures("the linkage"):
            return self._run(platform, source, keep_tables=keep_tables)

    def _run(self, platform, source, *, keep_tables: bool = False) -> LinkageResult:
        """The stages in order, each reading the tables and relations the previous made."""
        self._t = {name: fresh_name(f"link_{name}") for name in self._WORK}
        self._t["train_labels"] = fresh_name("link_train_labels")  # kept: the result's
        self._t.update({name: name if keep_tables else fresh_name(f"link_{name}")
                        for name in self.OUTPUTS})
        self._keep_tables = keep_tables
        self._views: list[str] = []
        counts: dict[str, Any] = {}
        timings: dict[str, float] = {}
        self._check_inputs(platform, source, counts)
        backend = make_backend(self.config.backend, self.con, spark=self._spark)
        self._stage1_or_none(counts, timings)
        model, blocking = self._plan_and_fit(counts, timings, backend)
        preds, tf_tables = self._score(model, blocking, backend, counts, timings)
        s2_links, gm_cols, aside = self._assign(model, preds, counts, timings)
        s1_links, s1_preds = self._score_stage1(model, gm_cols, s2_links, backend, tf_tables,
                                                counts, timings)
        links = self._links(s1_links, s2_links)
        set_aside = self._set_aside(aside)
        unlinked_platform, unlinked_source = self._unlinked(links, preds, aside)
        pairs = self._pairs(s1_preds, preds)
        return self._result(model, blocking, counts, timings, links, unlinked_platform,
                            unlinked_source, set_aside, pairs)

    def _name(self, rel: duckdb.DuckDBPyRelation, prefix: str) -> str:
        """A fresh session-only view of ``rel`` for SQL text (dropped at the end of the run):
        the stages read each other's relations, not tables they know the name of."""
        name = fresh_name(f"link_{prefix}")
        temp_view(rel, name)
        self._views.append(name)
        return name

    def _table(self, name: str, sql: str) -> duckdb.DuckDBPyRelation:
        """The output table ``name`` of this run from ``sql``: a named table with
        ``keep_tables``, else a session-only one."""
        kind = "TABLE" if self._keep_tables else "TEMP TABLE"
        self._sql(f"CREATE OR REPLACE {kind} {self._t[name]} AS {sql}")
        return self.con.table(self._t[name])

    def _check_inputs(self, platform, source, counts: dict[str, Any]) -> None:
        """Snapshot both inputs (tables ``P``, ``S``) and check their keys."""
        con, t = self.con, self._t
        self._snapshot(t["P"], as_relation(con, platform, "platform"))
        self._snapshot(t["S"], as_relation(con, source, "source"))
        for side, name in (("P", "platform"), ("S", "source")):
            dups = self._count(f"(SELECT record_id FROM {t[side]} GROUP BY 1 "
                               "HAVING count(*) > 1 OR record_id IS NULL)")
            if dups:
                raise LinkageError(f"{name} features have {dups} duplicated or null record_id "
                                   "values; the contract requires a unique key")
        counts["platform_records"] = self._count(t["P"])
        counts["source_records"] = self._count(t["S"])

    def _stage1_or_none(self, counts: dict[str, Any], timings: dict[str, float]) -> None:
        """Stage 1 (tables ``s1``, ``train_labels``; empty without a key), and the stage-1
        links as labels (table ``labels``)."""
        cfg, t = self.config, self._t
        if cfg.key_column:
            with step(log, "stage 1: exact key match", timings):
                self._stage1(counts)
        else:
            self._sql(f"CREATE OR REPLACE TEMP TABLE {t['s1']} AS SELECT NULL::VARCHAR AS "
                      "record_id_l, NULL::VARCHAR AS record_id_r, NULL::VARCHAR AS guard LIMIT 0")
            self._sql(f"CREATE OR REPLACE TEMP TABLE {t['train_labels']} AS SELECT NULL::VARCHAR "
                      "AS record_id_l, NULL::VARCHAR AS record_id_r LIMIT 0")
            counts["stage1_links"] = 0
        self._sql(f"CREATE OR REPLACE TEMP TABLE {t['labels']} AS "
                  f"SELECT record_id_l, record_id_r FROM {t['s1']} WHERE guard IS NULL")

    def _plan_and_fit(self, counts: dict[str, Any], timings: dict[str, float], backend):
        """The model's plan, the stage-2 pools (tables ``P2``, ``S2``), the blocking budget
        and analysis, and the model's training. Returns ``(model, blocking)``."""
        cfg, con, t = self.config, self.con, self._t
        # ---- the model's plan: comparisons and rules from the features at hand
        model = self._model if self._model is not None else cfg.model()
        if not hasattr(model, "settings_"):
            with step(log, "stage 2: choosing comparisons and rules", timings):
                model.plan(con.table(t["P"]), con.table(t["S"]), con=con)
        self._plan_counts(model, counts)

        # ---- stage-2 pools
        # anti / semi joins rather than [NOT] IN (subquery): ids are never null here, and a join
        # needs no null-aware plan
        cols = self._pool_columns(model)
        self._sql(f"CREATE OR REPLACE TEMP TABLE {t['P2']} AS SELECT {cols} FROM {t['P']} "
                  f"ANTI JOIN {t['labels']} ON record_id = record_id_l")
        drop_r = (f" ANTI JOIN {t['labels']} ON record_id = record_id_r"
                  if cfg.assignment == "one_to_one" else "")
        self._sql(f"CREATE OR REPLACE TEMP TABLE {t['S2']} AS SELECT {cols} FROM {t['S']}{drop_r}")
        counts["stage2_platform_pool"] = self._count(t["P2"])
        counts["stage2_source_pool"] = self._count(t["S2"])
        n_labels = counts["stage1_links"]

        # ---- blocking budget and analysis (recall on stage-1 links)
        rules = model.blocking_rules_
        with step(log, "blocking analysis", timings):
            # budget first (fails before any pair is formed); pairs counted where they are
            # scored (the stage-2 pools); recall measured on the stage-1 links, looked up in
            # the full feature tables
            blocking = analyse_blocking(con, con.table(t["P2"]), con.table(t["S2"]), rules,
                                        labels=con.table(t["labels"]) if n_labels else None,
                                        labels_left=con.table(t["P"]),
                                        labels_right=con.table(t["S"]),
                                        budget=cfg.comparison_budget)
        counts["blocking_pairs_stage2"] = blocking.total_pairs
        counts["blocking_recall_on_stage1"] = blocking.recall

        # ---- model
        if not hasattr(model, "settings_"):
            # an unfitted model carries the user's own comparisons / rules: train it here
            expected = None
            if n_labels and counts.get("platform_trusted_key"):
                coverage = n_labels / counts["platform_trusted_key"]
                expected = coverage * counts["platform_records"]
                counts["estimated_source_coverage"] = round(coverage, 4)
            with step(log, "stage 2: training the model", timings):
                n_train = self._count(t["train_labels"])
                counts["training_labels"] = n_train
                model.fit(con.table(t["P"]), con.table(t["S"]),
                          labels=con.table(t["train_labels"]) if n_train else None,
                          expected_matches=expected, backend=backend)
        return model, blocking

    def _score(self, model: LinkageModel, blocking: BlockingReport, backend,
               counts: dict[str, Any], timings: dict[str, float]):
        """Score the stage-2 pools' blocked pairs (table ``s2_preds``). Returns
        ``(preds, tf_tables)``."""
        cfg, con, t = self.config, self.con, self._t
        with step(log, "stage 2: scoring pairs", timings):
            # both stages score subsets of the data with the value frequencies of all of it
            tf_tables = model.term_frequency_tables(con, con.table(t["P"]), con.table(t["S"]))
            preds = model.predict(con.table(t["P2"]), con.table(t["S2"]), backend=backend,
                                  threshold_match_probability=cfg.min_report_probability,
                                  table_name=t["s2_preds"], tf_tables=tf_tables,
                                  num_chunks=max(1, -(-blocking.total_pairs
                                                      // cfg.pairs_per_chunk)))
        counts["stage2_pairs_scored"] = int(preds.count("*").fetchall()[0][0])
        return preds, tf_tables

    def _assign(self, model: LinkageModel, preds: duckdb.DuckDBPyRelation,
                counts: dict[str, Any], timings: dict[str, float]):
        """The assignment and the stage-2 links with their decision (table ``s2_links``).
        Returns ``(s2_links, gm_cols, set_aside)``: the gamma_ / mw_ columns, and the pairs
        the assignment did not keep."""
        cfg, t = self.config, self._t
        with step(log, "assignment", timings):
            assigned, aside = assign(self.con, preds, mode=cfg.assignment,
                                     min_probability=cfg.min_report_probability,
                                     prefix=t["assign"])
        accepted = self._name(assigned, "accepted")
        why = self._why_sql(model)
        decision = cfg.thresholds.decision_sql("match_probability")
        gm_cols = [c for c in assigned.columns if c.startswith(("gamma_", "mw_"))]
        gm = ", ".join(gm_cols)
        self._sql(f"""
            CREATE OR REPLACE TEMP TABLE {t['s2_links']} AS
            SELECT record_id_l, record_id_r, 'probabilistic' AS method, match_weight,
                   match_probability, {decision} AS decision, {why} AS why, {gm}
            FROM {accepted}
        """)
        return t["s2_links"], gm_cols, aside

    def _score_stage1(self, model: LinkageModel, gm_cols: list[str], s2_links: str, backend,
                      tf_tables, counts: dict[str, Any], timings: dict[str, float]):
        """Stage-1 links scored by the traits model (explanation + optional re-check), table
        ``s1_links``. Returns ``(s1_links, s1_preds)`` (``s1_preds`` None without stage 1)."""
        cfg, con, t = self.config, self.con, self._t
        n_labels = counts["stage1_links"]
        s1 = t["s1_links"]
        if n_labels:
            with step(log, "stage 1: scoring exact links with the traits model", timings):
                self._view(t["stage1_left"], f"SELECT * FROM {t['P']} "
                           f"SEMI JOIN {t['labels']} ON record_id = record_id_l")
                self._view(t["stage1_right"], f"SELECT * FROM {t['S']} "
                           f"SEMI JOIN {t['labels']} ON record_id = record_id_r")
                scored = model.predict(con.table(t["stage1_left"]), con.table(t["stage1_right"]),
                                       backend=backend, pairs=con.table(t["labels"]),
                                       table_name=t["s1_preds"], tf_tables=tf_tables)
            # With the key among the comparisons, the model's probability is the posterior of
            # the pair given the shared key and the traits: the thresholds decide, as in stage
            # 2 (a NIR borrowed from someone else is refused by traits that disagree). Without
            # it, the traits model's probability carries the prior of two *random* records,
            # but a trusted key match is not random: judge the traits by their Bayes factor
            # alone (weight minus prior weight), review when they favour a non-match.
            if not cfg.recheck_exact:
                recheck = "'match'"
            elif "mw_key" in gm_cols:
                recheck = cfg.thresholds.decision_sql("sc.match_probability")
            else:
                prior = float(model.settings_["probability_two_random_records_match"])
                prior_weight = math.log2(prior / (1.0 - prior))
                recheck = (f"CASE WHEN sc.match_weight - ({prior_weight!r}) < 0 "
                           "THEN 'review' ELSE 'match' END")
            self._sql(f"""
                CREATE OR REPLACE TEMP TABLE {s1} AS
                SELECT lab.record_id_l, lab.record_id_r, 'pivot_exact' AS method,
                       sc.match_weight, sc.match_probability, {recheck} AS decision,
                       {self._why_sql(model, 'sc.')} AS why,
                       {", ".join(f"sc.{c}" for c in gm_cols)}
                FROM {t['labels']} lab
                JOIN {self._name(scored, 's1_scored')} sc USING (record_id_l, record_id_r)
            """)
            lost = n_labels - self._count(s1)
            if lost:
                raise LinkageError(f"{lost} stage-1 links could not be scored; this is a bug")
            return s1, scored
        self._sql(f"CREATE OR REPLACE TEMP TABLE {s1} AS SELECT * FROM {s2_links} LIMIT 0")
        return s1, None

    def _links(self, s1_links: str, s2_links: str) -> duckdb.DuckDBPyRelation:
        """Both stages' links (output ``links``)."""
        return self._table("links", f"""
            SELECT u.record_id_l AS candidat_id, u.record_id_r AS person_id, u.* EXCLUDE
                   (record_id_l, record_id_r){self._consistency_columns()}
            FROM (SELECT * FROM {s1_links} UNION ALL BY NAME SELECT * FROM {s2_links}) u
            ORDER BY candidat_id
        """)

    def _set_aside(self, aside: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
        """Exact-stage guards and assignment losers (output ``set_aside``)."""
        return self._table("set_aside", f"""
            SELECT record_id_l AS candidat_id, record_id_r AS person_id, guard AS reason,
                   NULL::DOUBLE AS match_weight, NULL::DOUBLE AS match_probability,
                   NULL::DOUBLE AS competitor_weight
            FROM {self._t['s1']} WHERE guard IS NOT NULL
            UNION ALL
            SELECT record_id_l, record_id_r, reason, match_weight, match_probability,
                   competitor_weight
            FROM {self._name(aside, 'aside')}
            ORDER BY candidat_id, person_id, reason
        """)

    def _unlinked(self, links: duckdb.DuckDBPyRelation, preds: duckdb.DuckDBPyRelation,
                  aside: duckdb.DuckDBPyRelation):
        """Unlinked records with reasons (outputs ``unlinked_platform``, ``unlinked_source``)."""
        t = self._t
        review = self.config.thresholds.review
        unlinked_platform = self._table("unlinked_platform", f"""
            WITH best AS (
                SELECT record_id_l,
                       -- exact ties: the smallest id, the same every run
                       first(record_id_r ORDER BY match_weight DESC, record_id_r)
                           AS best_person_id,
                       max(match_probability) AS best_match_probability
                FROM {self._name(preds, 'preds')} GROUP BY 1),
            flags AS (
                SELECT record_id_l,
                       bool_or(reason = 'tie') AS tie,
                       bool_or(reason = 'conflict_lost' AND match_probability >= {review!r})
                           AS lost
                FROM {self._name(aside, 'aside')} GROUP BY 1),
            guard AS (SELECT record_id_l, min(guard) AS guard FROM {t['s1']}
                      WHERE guard IS NOT NULL GROUP BY 1)
            SELECT p.record_id AS candidat_id,
                   CASE WHEN l.decision = 'review' THEN 'review'
                        WHEN f.tie THEN 'tie'
                        WHEN f.lost THEN 'conflict_lost'
                        WHEN g.guard IS NOT NULL AND l.candidat_id IS NULL THEN g.guard
                        WHEN l.decision = 'non_match' THEN 'below_threshold'
                        WHEN b.record_id_l IS NULL THEN 'no_candidate_pair'
                        ELSE 'below_threshold' END AS reason,
                   b.best_person_id, b.best_match_probability
            FROM {t['P']} p
            LEFT JOIN {self._name(links, 'links')} l ON l.candidat_id = p.record_id
            LEFT JOIN best b ON b.record_id_l = p.record_id
            LEFT JOIN flags f ON f.record_id_l = p.record_id
            LEFT JOIN guard g ON g.record_id_l = p.record_id
            WHERE l.candidat_id IS NULL OR l.decision <> 'match'
            ORDER BY 1
        """)
        links_name = self._name(links, "links")
        unlinked_source = self._table("unlinked_source",
                                      unlinked_source_sql(links_name, t["S"]))
        return unlinked_platform, unlinked_source

    def _pairs(self, s1_preds, preds: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
        """Every scored pair of both stages (output ``pairs``)."""
        s1 = (f"SELECT *, 1 AS stage FROM {self._name(s1_preds, 's1_preds')} UNION ALL BY NAME "
              if s1_preds is not None else "")
        return self._table("pairs", f"""
            SELECT record_id_l AS candidat_id, record_id_r AS person_id,
                   * EXCLUDE (record_id_l, record_id_r)
            FROM ({s1}SELECT *, 2 AS stage FROM {self._name(preds, 'preds')})
            ORDER BY candidat_id, person_id, stage
        """)

    def _result(self, model, blocking, counts: dict[str, Any], timings: dict[str, float],
                links, unlinked_platform, unlinked_source, set_aside, pairs) -> LinkageResult:
        """The counts of the links, the nothing-lost check, the working tables dropped."""
        t = self._t
        for d in ("match", "review", "non_match"):
            counts[f"links_{d}"] = self._count(t["links"], f"decision = '{d}'")
        counts["links_match_pivot_exact"] = self._count(
            t["links"], "decision = 'match' AND method = 'pivot_exact'")
        counts["links_match_probabilistic"] = self._count(
            t["links"], "decision = 'match' AND method = 'probabilistic'")
        counts["unlinked_platform"] = self._count(t["unlinked_platform"])
        counts["unlinked_source"] = self._count(t["unlinked_source"])
        # nothing lost: every candidate is matched or listed as unlinked
        if counts["links_match"] + counts["unlinked_platform"] != counts["platform_records"]:
            raise LinkageError("candidates lost between links and unlinked records; this is a bug")
        log.info("linkage: %d matches (%d exact, %d probabilistic), %d to review, %d unlinked",
                 counts["links_match"], counts["links_match_pivot_exact"],
                 counts["links_match_probabilistic"], counts["links_review"],
                 counts["unlinked_platform"])
        # the working tables are read by no output (each output is a table of its own)
        for name in self._WORK:
            self._drop(t[name])
        for suffix in ("_in", "_pool", "_round", "_ties", "_acc", "_aside"):
            self._drop(t["assign"] + suffix)
        for name in self._views:
            self._drop(name)
        return LinkageResult(self.con, links, unlinked_platform, unlinked_source, set_aside,
                             pairs, model, blocking, counts, timings, self.config,
                             training_labels=self.con.table(t["train_labels"]))


def unlinked_source_sql(links: str, source: str) -> str:
    """SQL of the source persons without a match and why (``person_id``, ``reason``: the
    decision of their best remaining link, or ``no_match_found``), from a links table and the
    source features' table (``record_id``)."""
    return f"""
        WITH reviewed AS (SELECT person_id, min(decision) AS decision FROM {links}
                          WHERE decision <> 'match' GROUP BY 1),
             matched AS (SELECT DISTINCT person_id FROM {links} WHERE decision = 'match')
        SELECT s.record_id AS person_id,
               CASE WHEN r.person_id IS NOT NULL THEN r.decision
                    ELSE 'no_match_found' END AS reason
        FROM {source} s
        LEFT JOIN reviewed r ON r.person_id = s.record_id
        ANTI JOIN matched m ON m.person_id = s.record_id
        ORDER BY 1"""


def link(platform, source, config: LinkageConfig | None = None, *,
         con: duckdb.DuckDBPyConnection | None = None, keep_tables: bool = False,
         **options) -> LinkageResult:
    """Run the cascade in one call: ``link(platform_features, source_features)``.

    ``options`` override fields of :class:`LinkageConfig` (e.g. ``key_column=None``). Without
    ``con`` the linkage runs on a new in-memory connection; DuckDB relations of another
    connection are then copied to it, so pass the connection of large inputs. ``keep_tables``:
    see :meth:`Linkage.run`.
    """
    if config is None:
        config = LinkageConfig(**options)
    elif options:
        raise ConfigError("pass either a LinkageConfig or keyword options, not both")
    return Linkage(config, con=con).run(platform, source, keep_tables=keep_tables)
