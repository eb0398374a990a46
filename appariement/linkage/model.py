"""The probabilistic (Fellegi-Sunter) model: build, train, predict, save and load.

:class:`LinkageModel` follows scikit-learn conventions: the constructor only stores parameters,
:meth:`LinkageModel.fit` learns and sets attributes ending in ``_`` (``settings_``,
``training_log_``), and a fitted model saves to / loads from JSON so a methodologist can freeze,
inspect and reuse it.

Training (unsupervised, with a labelled shortcut where the data give one):

1. the prior (probability that two random records match) from an expected number of matches —
   the cascade derives it from the stage-1 NIR links — or Splink's deterministic-rules estimate;
2. u probabilities by random sampling of pairs;
3. m probabilities from labelled pairs when given (the stage-1 links: valid, traits-consistent NIR
   on both sides), then refined by expectation-maximisation over several blocking passes. Splink 5
   raises when EM drives an m value to zero (very clean data); that pass is then skipped and the
   fact recorded in ``training_log_`` — a batch run never crashes on it.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import time
from pathlib import Path
from typing import Any, Sequence

import duckdb

from .._atomic import write_json
from .._log import get_logger
from .._splink_log import quiet_splink
from .._tables import as_relation, temp_view
from ..blocking.analysis import count_key_pairs, count_pairs, fit_rules_to_budget
from ..blocking.rules import (DEFAULT_PREDICTION_RULES, DEFAULT_TRAINING_RULES,
                              TRAINING_CANDIDATES, BlockingRule,
                              adapt_rules, get_rules, key_rule)
from ..errors import AppariementError, ConfigError, LinkageError
from ._backend import Backend, make_backend
from .comparisons import COMPARISON_NEEDS, comparisons_for
from .features import MIN_FILL, FeatureProfile, profile_features

__all__ = ["LinkageModel", "PLATFORM", "SOURCE"]

log = get_logger(__name__)

#: source_dataset values; Splink puts the alphabetically first on the left (``_l``)
PLATFORM = "platform"
SOURCE = "source"

_MODEL_FORMAT = "appariement.linkage_model/1"
_SEP = "-__-"  # Splink's separator in composite record ids
_PSEUDO = 0.5  # pseudo-count per level when estimating m from labels
_ids = itertools.count()


#: blocks of the u sample (see LinkageModel._u_from_sampling_sql)
_U_BLOCKS = 50

#: with ``em="auto"``, EM runs only when fewer labelled pairs estimate m
MIN_LABELS_WITHOUT_EM = 1000

#: an EM pass needs at least this many blocked pairs to be chosen as a training rule
MIN_EM_PAIRS = 200

#: the key comparison's m from pairs that agree on every trait needs at least this many pairs
MIN_KEY_M_PAIRS = 50

#: documented defaults for m when neither labels nor EM can estimate it. The key's: two records
#: of the same person that both carry a NIR share it in ~95 % of cases in administrative files
#: (typos ~2 %, another person's NIR ~3 %, of which about two thirds contradict the declared
#: sex or birth date of the record that holds it); a pseudonym cannot be "one edit away".
DEFAULT_KEY_M = {"nir": (0.95, 0.02, 0.02, 0.01), "opaque": (0.97, 0.03)}
#: any other comparison: the most specific level gets this share, the others a geometric
#: decrease (each half the previous), "all other" included — weak but monotone evidence
DEFAULT_TOP_M = 0.85


def default_m(k: int) -> list[float]:
    """Default m probabilities of a comparison with ``k`` non-null levels (most specific first).

    Examples:
        >>> [round(m, 4) for m in default_m(3)]
        [0.85, 0.1, 0.05]
    """
    if k == 1:
        return [1.0]
    rest = [0.5 ** i for i in range(k - 1)]
    total = sum(rest)
    return [DEFAULT_TOP_M, *((1 - DEFAULT_TOP_M) * r / total for r in rest)]


@contextlib.contextmanager
def splink_failures(what: str):
    """Turn a Splink or DuckDB failure inside ``what`` into a :class:`LinkageError`: no raw
    library exception reaches a user (its message may quote SQL; the type name is kept, the
    original stays chained for a debugger)."""
    try:
        yield
    except AppariementError:
        raise
    except (*_splink_errors(), duckdb.Error) as exc:
        raise LinkageError(
            f"{what} failed ({type(exc).__name__}); check the identity columns and the linkage "
            "options, or report it with the log file (--log-file, --verbose)") from exc


@contextlib.contextmanager
def _insertion_order_free(con: duckdb.DuckDBPyConnection):
    """DuckDB free to write query results in any order while Splink scores, then the setting
    as it was. Keeping the insertion order makes DuckDB buffer the blocked pairs and the
    scored pairs in order (measured at 1M x 200k with the NIR: 3.6 GB peak against 2.9 GB);
    nothing downstream depends on it (links, pairs and ties are ordered explicitly)."""
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {bool(before)}")


def _splink_errors() -> tuple[type[BaseException], ...]:
    """What Splink raises when a training step cannot run (no pair in a block, an m value
    driven to zero): a batch run records it and falls back, it never stops on it."""
    from splink.internals.exceptions import SplinkException  # Splink 5 exports no exceptions
    return (ValueError, SplinkException)


def _with_parameters(target: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """``target`` settings with the m and u of ``source`` (the same comparisons rendered in
    another SQL dialect), level by level."""
    if target is source:
        return target
    target = copy.deepcopy(target)
    for comp_t, comp_s in zip(target["comparisons"], source["comparisons"], strict=True):
        for lv_t, lv_s in zip(comp_t["comparison_levels"], comp_s["comparison_levels"],
                              strict=True):
            if lv_t.get("label_for_charts") != lv_s.get("label_for_charts"):
                raise LinkageError("comparison levels differ between SQL dialects: "
                                   f"{lv_t.get('label_for_charts')!r} vs "
                                   f"{lv_s.get('label_for_charts')!r}")
            for key in ("m_probability", "u_probability"):
                if lv_s.get(key) is not None:
                    lv_t[key] = lv_s[key]
    return target


def _since(start: float) -> float:
    """Seconds elapsed since ``start`` (a ``time.perf_counter()`` value), for training logs."""
    return round(time.perf_counter() - start, 3)


def _reads(comparison) -> tuple[str, ...]:
    """Feature columns a comparison reads (library comparisons; key: its own column)."""
    name = comparison.create_output_column_name()
    if name in COMPARISON_NEEDS:
        return COMPARISON_NEEDS[name][1]
    return ()


def _rule_to_json(r: BlockingRule):
    """Library rules by name; custom rules in full, so that a saved model reloads anywhere."""
    from ..blocking.rules import FRENCH_RULES
    if FRENCH_RULES.get(r.name) == r:
        return r.name
    return {"name": r.name, "keys": [list(k) for k in r.keys], "description": r.description}


class LinkageModel:
    """A Fellegi-Sunter model of platform candidates against source persons.

    Args:
        comparisons: Splink comparison creators; default :func:`default_comparisons`.
        blocking_rules: rules generating the pairs to score (names or :class:`BlockingRule`);
            None: the library's defaults. Either way they are adapted to the features at hand
            (see :meth:`plan`).
        training_rules: candidate EM passes; None: the library's defaults. The passes run are
            those with enough pairs (:data:`MIN_EM_PAIRS`), until every comparison has been
            left free by one.
        key_column: the exact-stage key, compared in stage 2 too (:func:`key_comparison`).
        key_is_nir: the key holds plaintext NIRs (None: decided from the values).
        min_fill: a feature populated on fewer rows of one side is absent.
        max_pairs_per_rule: a blocking rule making more pairs alone is tightened (None:
            ``max(1e6, 200 x platform records)``).
        u_max_pairs: pairs sampled to estimate u.
        em: run EM passes after the other estimates: ``True``, ``False``, or ``"auto"`` (the
            default): only when ``fit`` gets fewer than ``MIN_LABELS_WITHOUT_EM`` labelled
            pairs. With enough labels (the cascade's exact-key links), m from the labels is
            better than EM: on homonym-rich blocks (a common surname and first name), EM
            classes part of the homonyms as matches with a "disagreeing" birth date, and learns
            that true pairs often disagree on it (measured on the 200k synthetic benchmark:
            m(date "all other") 0.04 with EM vs 0.0025 from labels, truth 0.0022).
        em_max_pairs: cap on the blocked pairs one EM pass uses (Splink samples records
            deterministically to reach it); None for all pairs.
        m_from_labels: use labelled pairs, when ``fit`` receives some, to estimate m.
        seed: seed for sampling (Splink's sampling is deterministic given it).
        backend: ``"duckdb"`` or ``"spark"``.
        term_frequency: term-frequency adjustments on exact name levels.
        columns: feature columns passed to Splink (default: those the comparisons need).
        m_floor: smallest m probability a level may keep after training. EM on a field that
            never disagrees in the training pairs drives m to ~0, which turns any later
            disagreement on that field into a veto; real data (merged communes, typos in codes)
            do disagree, so m values are floored and renormalised.

    Examples:
        >>> model = LinkageModel(blocking_rules=["dob", "name_yob"], u_max_pairs=1e5)
        >>> model.blocking_rules
        ('dob', 'name_yob')
    """

    def __init__(self, comparisons: Sequence | None = None,
                 blocking_rules: Sequence[str | BlockingRule] | None = None,
                 training_rules: Sequence[str | BlockingRule] | None = None,
                 u_max_pairs: float = 3e5, em: bool | str = "auto", m_from_labels: bool = True,
                 seed: int = 42, backend: str = "duckdb", term_frequency: bool = True,
                 m_floor: float = 1e-3, columns: Sequence[str] | None = None,
                 em_max_pairs: float | None = 5e5, key_column: str | None = None,
                 key_is_nir: bool | None = None, min_fill: float = MIN_FILL,
                 max_pairs_per_rule: int | None = None):
        self.comparisons = comparisons
        self.blocking_rules = tuple(blocking_rules) if blocking_rules is not None else None
        self.training_rules = tuple(training_rules) if training_rules is not None else None
        self.key_column = key_column
        self.key_is_nir = key_is_nir
        self.min_fill = min_fill
        self.max_pairs_per_rule = max_pairs_per_rule
        self.u_max_pairs = u_max_pairs
        self.em = em
        self.m_from_labels = m_from_labels
        self.seed = seed
        self.backend = backend
        self.term_frequency = term_frequency
        self.m_floor = m_floor
        self.em_max_pairs = em_max_pairs
        self.columns = tuple(columns) if columns is not None else None
        if not 0 <= m_floor < 0.1:
            raise ConfigError(f"m_floor must be in [0, 0.1), got {m_floor}")
        if em not in (True, False, "auto"):
            raise ConfigError(f"em must be True, False or 'auto', got {em!r}")
        if u_max_pairs <= 0:
            raise ConfigError(f"u_max_pairs must be positive, got {u_max_pairs}")
        get_rules(self.blocking_rules or ())  # fail early on unknown rule names
        get_rules(self.training_rules or ())

    # ------------------------------------------------------------------ plan
    def plan(self, left, right, *, con: duckdb.DuckDBPyConnection | None = None
             ) -> "LinkageModel":
        """Choose the comparisons, blocking rules and training rules from the data at hand.

        A feature absent from either side, or populated on fewer than ``min_fill`` of its rows,
        is absent: no comparison reads it (with the default comparisons), no rule joins on it
        (a rule loses that key, see :func:`~appariement.blocking.rules.adapt_rules`). With a
        key, a ``key`` comparison and a ``key`` blocking rule are added, so that every pair
        sharing the key is scored. A blocking rule that alone makes more than
        ``max_pairs_per_rule`` pairs is tightened. Training rules are the candidates with at
        least :data:`MIN_EM_PAIRS` pairs, until each comparison is left free by one pass.
        What was chosen and why is in ``plan_log_`` (and ``model.json``). Called by
        :meth:`fit`; idempotent.

        Raises:
            LinkageError: no comparison or no blocking rule can be built from the features
                (the minimum input is an id plus a surname, or an id plus a key).
        """
        if hasattr(self, "blocking_rules_"):
            return self
        con = con or duckdb.connect()
        left_rel = as_relation(con, left, PLATFORM)
        right_rel = as_relation(con, right, SOURCE)
        profile = profile_features(con, left_rel, right_rel, key_column=self.key_column,
                                   min_fill=self.min_fill)
        present = profile.present_columns
        log_: list[dict[str, Any]] = [{"step": "features", **profile.to_dict()}]
        key = self.key_column if self.key_column and profile.present(self.key_column) else None
        if self.key_column and key is None:
            log_.append({"step": "key", "status": "absent", "column": self.key_column})
        key_is_nir = self.key_is_nir if self.key_is_nir is not None else profile.key_is_nir
        self.key_is_nir_ = bool(key and key_is_nir)
        if self.comparisons is None:
            comps, cols = comparisons_for(present, key_column=key, key_is_nir=key_is_nir,
                                          term_frequency=self.term_frequency)
            reads = {name: set(r) for name, (_, r) in COMPARISON_NEEDS.items()}
            if key:
                reads["key"] = {key}
            if not [c for c in comps if c.create_output_column_name() != "key"] and not key:
                raise LinkageError(
                    "no comparison can be built from the identity features at hand (absent "
                    f"or nearly always null: {', '.join(profile.to_dict()['absent']) or '-'}); "
                    "the minimum input is an id plus a surname, or an id plus a key (NIR, "
                    "pseudonym or pivot code): map those columns in the configuration")
        else:
            comps = list(self.comparisons)
            cols = [c for c in left_rel.columns if c not in ("record_id", "unique_id",
                                                              "source_dataset")]
            reads = {}
        if self.columns is not None:
            cols = list(self.columns)
        log_.append({"step": "comparisons",
                     "chosen": [c.create_output_column_name() for c in comps],
                     "key": key, "key_is_nir": bool(key and key_is_nir)})
        rules, changes = adapt_rules(self.blocking_rules or DEFAULT_PREDICTION_RULES, present)
        if key and not any(r.keys == ((key, key),) for r in rules):
            rules.insert(0, key_rule(key))
        cap = self.max_pairs_per_rule or max(1_000_000, 200 * profile.rows[0])
        rules, tightened = fit_rules_to_budget(con, left_rel, right_rel, rules,
                                               max_pairs_per_rule=cap, present=present)
        if self.blocking_rules is not None and changes:
            log.warning("blocking rules adapted to the features at hand: %s",
                        "; ".join(f"{c['rule']} {c['action']}" for c in changes))
        log_.append({"step": "blocking_rules", "chosen": [r.name for r in rules],
                     "max_pairs_per_rule": cap, "changes": changes + tightened})
        if not rules:
            raise LinkageError(
                "no blocking rule can be formed from the identity features at hand "
                f"(absent: {', '.join(profile.to_dict()['absent']) or '-'}); give blocking_rules "
                "on the columns present, or map more identity columns")
        self.profile_ = profile
        self.comparisons_ = comps
        self.columns_ = tuple(dict.fromkeys([*cols, *(c for r in rules for c in
                                                      (*r.left_columns, *r.right_columns))]))
        self.blocking_rules_ = rules
        self.training_rules_ = self._choose_training_rules(con, left_rel, right_rel, present,
                                                           comps, reads, log_)
        self.plan_log_ = log_
        for entry in log_[1:]:
            log.info("model plan: %s", json.dumps(entry, default=str)[:400])
        return self

    def _choose_training_rules(self, con, left_rel, right_rel, present, comps, reads,
                               log_: list) -> list[BlockingRule]:
        names = [c.create_output_column_name() for c in comps]
        # the preferred passes (the user's, or the defaults) run whenever they have pairs; the
        # other candidates only to leave free a comparison no chosen pass left free
        preferred = get_rules(self.training_rules or DEFAULT_TRAINING_RULES)
        candidates, changes = adapt_rules(
            [*preferred, *([] if self.training_rules else
                           [r for r in get_rules(TRAINING_CANDIDATES) if r not in preferred])],
            present)
        n_preferred = len(adapt_rules(preferred, present)[0])
        uncovered = set(names)
        chosen: list[BlockingRule] = []
        considered = []
        for i, r in enumerate(candidates):
            cols = set(r.left_columns) | set(r.right_columns)
            free = {n for n in names if not reads.get(n, set()) & cols}
            if i >= n_preferred and not free & uncovered:
                considered.append({"rule": r.name, "status": "not needed"})
                continue
            n = count_pairs(con, left_rel, right_rel, r)
            if n < MIN_EM_PAIRS:
                considered.append({"rule": r.name, "status": "too few pairs", "pairs": n})
                continue
            chosen.append(r)
            uncovered -= free
            considered.append({"rule": r.name, "status": "chosen", "pairs": n,
                               "frees": sorted(free)})
        log_.append({"step": "training_rules", "chosen": [r.name for r in chosen],
                     "considered": considered, "changes": changes,
                     "never_free": sorted(uncovered)})
        return chosen

    # ------------------------------------------------------------------ inputs
    def splink_input(self, con: duckdb.DuckDBPyConnection, features, dataset: str,
                     extra_columns: Sequence[str] = ()) -> duckdb.DuckDBPyRelation:
        """Features as Splink wants them: ``unique_id``, ``source_dataset`` and the compared
        columns (plus ``extra_columns``, e.g. a key used by a blocking rule).

        The compared columns are those :meth:`plan` chose (``columns`` when given)."""
        rel = as_relation(con, features, dataset)
        base = list(getattr(self, "columns_", None) or self.columns or ())
        if not base:
            raise LinkageError("this LinkageModel has no plan: call fit() or plan() first")
        self.fitted_columns_ = tuple(base)
        wanted = list(dict.fromkeys([*base, *extra_columns]))
        missing = [c for c in ("record_id", *wanted) if c not in rel.columns]
        if missing:
            raise LinkageError(f"the {dataset} features lack columns {missing}; build them with "
                               "appariement.identity.standardise_identities")
        cols = ", ".join(f'"{c}"' for c in wanted)
        return rel.query("_f", f"SELECT CAST(record_id AS VARCHAR) AS unique_id, "
                               f"'{dataset}' AS source_dataset, {cols} FROM _f")

    def _settings(self, prior: float | None, dialect: str | None = None) -> dict[str, Any]:
        from splink import SettingsCreator
        creator = SettingsCreator(
            link_type="link_only",
            comparisons=list(self.comparisons_),
            blocking_rules_to_generate_predictions=[r.to_splink() for r in self.blocking_rules_],
            probability_two_random_records_match=prior if prior else 1e-4,
            retain_intermediate_calculation_columns=False,
            retain_matching_columns=False,
        )
        settings = creator.create_settings_dict(
            dialect or ("spark" if self.backend == "spark" else "duckdb"))
        for comp in settings["comparisons"]:  # documented defaults, replaced by estimates
            levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
            defaults = (DEFAULT_KEY_M["nir" if self.key_is_nir_ else "opaque"]
                        if comp["output_column_name"] == "key" else default_m(len(levels)))
            for lv, m in zip(levels, defaults):
                if lv.get("m_probability") is None:
                    lv["m_probability"] = m
        return settings

    def _linker(self, backend: Backend, left_rel, right_rel, settings: dict[str, Any]):
        from splink import Linker
        db_api = backend.new_db_api()
        t_left = backend.register(db_api, left_rel, PLATFORM)
        t_right = backend.register(db_api, right_rel, SOURCE)
        # Splink's settings validation (about 0.2 s a linker) checks the comparisons' SQL
        # against the input columns: needed for user comparisons; the library's own are tested,
        # and splink_input has already checked that their columns exist.
        return Linker([t_left, t_right], copy.deepcopy(settings), log_level=None,
                      validate_settings=self.comparisons is not None)

    # ------------------------------------------------------------------ fit
    @quiet_splink("training")
    def fit(self, left, right, *, labels=None, expected_matches: float | None = None,
            con: duckdb.DuckDBPyConnection | None = None, backend: Backend | None = None
            ) -> "LinkageModel":
        """Estimate the model's parameters.

        Args:
            left: platform features (``standardise_identities(..., side="platform")``).
            right: source features.
            labels: optional true pairs (``record_id_l``, ``record_id_r``) to estimate m.
            expected_matches: expected number of true pairs between ``left`` and ``right``
                (sets the prior); None → estimated by Splink from deterministic rules.
            con: DuckDB connection holding the inputs (a new one if None).
            backend: a prepared backend (overrides ``self.backend``).

        Returns:
            self, with ``settings_`` (the trained Splink settings) and ``training_log_``.
        """
        backend = backend or make_backend(self.backend, con)
        con = backend.con
        self.plan(left, right, con=con)
        left_rel = self.splink_input(con, left, PLATFORM)
        right_rel = self.splink_input(con, right, SOURCE)
        n_left = left_rel.count("*").fetchall()[0][0]
        n_right = right_rel.count("*").fetchall()[0][0]
        if not n_left or not n_right:
            raise LinkageError(f"cannot train a model on empty inputs ({n_left} platform, "
                               f"{n_right} source records)")
        log_: list[dict[str, Any]] = []
        names = [c.create_output_column_name() for c in self.comparisons_]
        estimated: set[str] = set()
        prior = None
        if expected_matches:
            prior = min(0.999, max(expected_matches, 1.0) / (n_left * n_right))
            log_.append({"step": "prior", "source": "expected_matches",
                         "expected_matches": expected_matches, "value": prior})
        # m (labelled pairs) and u (random pairs) are shares of comparison levels, computed in
        # DuckDB SQL where the inputs live, whatever the backend: Spark then gets the very same
        # parameters (its settings differ only in the SQL dialect of the conditions)
        settings = self._settings(prior)
        sql_settings = settings if backend.name == "duckdb" else self._settings(prior, "duckdb")
        n_labels = 0
        if labels is not None and self.m_from_labels:
            start = time.perf_counter()
            # the labels were selected on the key: they cannot say how often true pairs
            # disagree on it (m of "same key" would be 1), so the key's m comes from traits
            sql_settings, n_labels, done = self._m_from_labels_sql(
                con, left_rel, right_rel, sql_settings, labels, skip=("key",))
            estimated |= done
            log_.append({"step": "m", "source": "labelled pairs", "n_pairs": n_labels,
                         "seconds": _since(start)})
        if "key" in names:
            start = time.perf_counter()
            sql_settings, entry = self._key_m_from_traits(con, left_rel, right_rel, sql_settings)
            if entry["source"] != "documented defaults":
                estimated.add("key")
            log_.append({**entry, "seconds": _since(start)})
        start = time.perf_counter()
        sql_settings, n_sampled = self._u_from_sampling_sql(con, left_rel, right_rel,
                                                            sql_settings, n_left, n_right)
        log_.append({"step": "u", "source": "random sampling", "max_pairs": self.u_max_pairs,
                     "n_pairs": n_sampled, "seconds": _since(start)})
        if "key" in names:
            sql_settings = self._key_u_exact(con, left_rel, right_rel, sql_settings,
                                             n_left * n_right, log_)
        settings = _with_parameters(settings, sql_settings)
        # The Splink linker is only needed for the steps Splink runs (prior from rules, EM); with
        # a known prior and enough labels, none is built.
        linker = None

        def training_linker():
            nonlocal linker
            if linker is None:
                linker = self._linker(backend, left_rel, right_rel, settings)
            return linker

        if prior is None:
            start = time.perf_counter()
            prior_rules = [r for r in self.training_rules_ if r.name in ("dob", "name_yob")]
            try:
                if not prior_rules:
                    raise LinkageError("no deterministic rule for the prior")
                training_linker().training.estimate_probability_two_random_records_match(
                    [r.sql for r in prior_rules], recall=0.8)
                log_.append({"step": "prior", "source": "deterministic rules, recall 0.8",
                             "rules": [r.name for r in prior_rules], "seconds": _since(start)})
            except (LinkageError, *_splink_errors()):
                # as many true pairs as platform records in the 200 pairs per record blocking
                # reaches at most: one match per platform record, a conservative prior
                prior = min(0.5, 1.0 / n_right)
                settings["probability_two_random_records_match"] = prior
                if linker is not None:
                    linker = self._linker(backend, left_rel, right_rel, settings)
                log_.append({"step": "prior", "source": "default: one match per platform "
                             "record", "value": prior, "seconds": _since(start)})
        run_em = self.em is True or (self.em == "auto" and n_labels < MIN_LABELS_WITHOUT_EM)
        if self.em == "auto" and not run_em:
            log_.append({"step": "em", "status": "not run",
                         "reason": f"{n_labels} labelled pairs >= {MIN_LABELS_WITHOUT_EM}"})
        if run_em and not self.training_rules_:
            log_.append({"step": "em", "status": "not run",
                         "reason": "no training rule has enough pairs among the features "
                                   "at hand"})
        if run_em:
            for r in self.training_rules_:
                start = time.perf_counter()
                # A failed EM pass can leave Splink's settings half-replaced (comparisons of the
                # blocking rule dropped, prior underflowed): snapshot, and roll back on failure.
                snapshot = training_linker().misc.save_model_to_json()
                try:
                    linker.training.estimate_parameters_using_expectation_maximisation(
                        r.sql, estimate_without_term_frequencies=True,
                        max_pairs=self.em_max_pairs)
                    cols = set(r.left_columns) | set(r.right_columns)
                    estimated |= {c.create_output_column_name() for c in self.comparisons_
                                  if not set(_reads(c)) & cols}
                    log_.append({"step": "em", "rule": r.name, "status": "ok",
                                 "seconds": _since(start)})
                except _splink_errors() as exc:  # an m value driven to zero, no pair...
                    log.warning("EM pass on rule %s skipped (parameters rolled back): %s",
                                r.name, type(exc).__name__)
                    log_.append({"step": "em", "rule": r.name, "status": "skipped",
                                 "reason": str(exc)[:300], "seconds": _since(start)})
                    linker.table_management.delete_tables_created_by_splink_from_db()
                    linker = self._linker(backend, left_rel, right_rel, snapshot)
        trained = linker.misc.save_model_to_json() if linker is not None else settings
        if linker is not None:  # Splink's working tables do not stay in the user's database
            linker.table_management.delete_tables_created_by_splink_from_db()
        defaults = [n for n in names if n not in estimated]
        if defaults:
            log.warning("m probabilities of %s: documented defaults (no labels, no EM pass "
                        "could estimate them)", ", ".join(defaults))
            log_.append({"step": "m", "source": "documented defaults", "comparisons": defaults})
        self.settings_ = self._floor_m(copy.deepcopy(trained), log_)
        self.training_log_ = log_
        return self

    def _key_m_from_traits(self, con, left_rel, right_rel, settings: dict[str, Any]
                           ) -> tuple[dict[str, Any], dict[str, Any]]:
        """m of the key comparison from pairs selected on the traits, not on the key: records
        equal on birth name, first name and full birth date, unique on both sides with those
        traits, both with a key. Among them, the share with the same key, one edit away, or
        another one. Too few such pairs: the documented defaults (:data:`DEFAULT_KEY_M`)."""
        traits = ("birth_name", "first_name", "birth_year", "birth_month", "birth_day")
        key = self.profile_.key_column
        if not all(c in left_rel.columns and self.profile_.present(c) for c in traits):
            return settings, {"step": "m_key", "source": "documented defaults",
                              "reason": "names or full birth dates absent"}
        on = " AND ".join(f'l."{c}" = r."{c}"' for c in traits)
        part_l = ", ".join(f'"{c}"' for c in traits)
        temp_view(left_rel, "_app_km_l")
        temp_view(right_rel, "_app_km_r")
        comp = next(c for c in settings["comparisons"] if c["output_column_name"] == "key")
        gamma = self._gamma_sql({"comparisons": [comp]})[0]
        # the NIR's levels also read each side's NIR consistency
        extra = ("l.nir_consistency AS nir_consistency_l, r.nir_consistency AS "
                 "nir_consistency_r, " if "nir_consistency_l" in gamma else "")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _app_label_vectors AS
            WITH l AS (SELECT *, count(*) OVER (PARTITION BY {part_l}) AS n FROM _app_km_l),
                 r AS (SELECT *, count(*) OVER (PARTITION BY {part_l}) AS n FROM _app_km_r),
                 pairs AS (SELECT {extra}l."{key}" AS "{key}_l", r."{key}" AS "{key}_r"
                           FROM l JOIN r ON {on}
                           WHERE l.n = 1 AND r.n = 1 AND l."{key}" IS NOT NULL
                             AND r."{key}" IS NOT NULL)
            SELECT {gamma} FROM pairs""")
        for view in ("_app_km_l", "_app_km_r"):
            con.execute(f"DROP VIEW IF EXISTS {view}")
        n = int(con.execute("SELECT count(*) FROM _app_label_vectors").fetchall()[0][0])
        if n < MIN_KEY_M_PAIRS:
            con.execute("DROP TABLE IF EXISTS _app_label_vectors")
            return settings, {"step": "m_key", "source": "documented defaults",
                              "reason": f"{n} pairs agreeing on every trait < {MIN_KEY_M_PAIRS}"}
        settings, n, _ = self._m_from_vector_table(con, settings, only=("key",))
        return settings, {"step": "m_key", "source": "pairs agreeing on every trait",
                          "n_pairs": n}

    def _key_u_exact(self, con, left_rel, right_rel, settings: dict[str, Any], n_pairs: int,
                     log_: list) -> dict[str, Any]:
        """u of "same key" computed exactly: the pairs of distinct people sharing a key (those
        in excess of one partner per record, :func:`count_key_pairs`) over all pairs. A sample of
        3e5 random pairs almost never holds one, and its pseudo-count would overstate u by orders
        of magnitude for large files; counting every pair sharing a key would count the matches
        themselves (u ~ prior x m), and a shared key would only cancel the prior. One pair at
        least, so that a shared key is never certainty. The other levels keep their sampled
        shares."""
        key = self.profile_.key_column
        shared, excess = count_key_pairs(con, left_rel, right_rel, key)
        u_same = max(excess, 1) / n_pairs
        settings = copy.deepcopy(settings)
        comp = next(c for c in settings["comparisons"] if c["output_column_name"] == "key")
        levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
        rest = sum(lv.get("u_probability") or 0.0 for lv in levels[1:])
        levels[0]["u_probability"] = u_same
        for lv in levels[1:]:
            lv["u_probability"] = ((lv.get("u_probability") or 0.0) / rest * (1 - u_same)
                                   if rest else (1 - u_same) / (len(levels) - 1))
        log_.append({"step": "u_key", "source": "exact count of pairs of distinct records "
                     "sharing the key (beyond one partner per record)", "pairs": shared,
                     "excess_pairs": excess, "value": u_same})
        return settings

    def _floor_m(self, settings: dict[str, Any], log_: list) -> dict[str, Any]:
        if not self.m_floor:
            return settings
        floored = []
        for comp in settings["comparisons"]:
            levels = [lv for lv in comp["comparison_levels"]
                      if not lv.get("is_null_level") and lv.get("m_probability") is not None]
            low = [lv for lv in levels if lv["m_probability"] < self.m_floor]
            if not low:
                continue
            for lv in low:
                floored.append(f"{comp['output_column_name']}: {lv.get('label_for_charts')}")
                lv["m_probability"] = self.m_floor
            total = sum(lv["m_probability"] for lv in levels)
            for lv in levels:
                lv["m_probability"] /= total
        if floored:
            log_.append({"step": "m_floor", "value": self.m_floor, "levels": floored})
        return settings

    def _explicit_pairs_linker(self, backend: Backend, left_rel, right_rel,
                               settings: dict[str, Any], pairs):
        """A linker whose predict() scores exactly ``pairs`` (record_id_l, record_id_r), and the
        DuckDB table holding those pairs (None on Spark)."""
        linker = self._linker(backend, left_rel, right_rel, settings)
        rel = as_relation(backend.con, pairs, "pairs")
        blocked = rel.query("_pairs", f"""
            SELECT DISTINCT '0' AS match_key,
                   '{PLATFORM}' || '{_SEP}' || CAST(record_id_l AS VARCHAR) AS join_key_l,
                   '{SOURCE}' || '{_SEP}' || CAST(record_id_r AS VARCHAR) AS join_key_r
            FROM _pairs""")
        db_api = linker._db_api
        name = None
        if backend.name == "duckdb":
            name = f"_app_blocked_{next(_ids)}"
            blocked.create(name)
            sdf = db_api.register(name, dataset_display_name=name)
        else:
            from .._tables import to_arrow
            sdf = db_api.register(backend.spark.createDataFrame(to_arrow(blocked).to_pandas()))
        linker.table_management.register_blocked_pairs_for_predict(sdf)
        return linker, name

    @staticmethod
    def _gamma_sql(settings: dict[str, Any]) -> list[str]:
        """One ``CASE`` expression per comparison giving its level (-1 = null), built from the
        levels' own ``sql_condition`` (DuckDB dialect), on ``<column>_l`` / ``<column>_r``."""
        gammas = []
        for comp in settings["comparisons"]:
            levels = comp["comparison_levels"]
            k = sum(1 for lv in levels if not lv.get("is_null_level"))
            cases, value = [], k - 1
            for lv in levels:
                cond = lv["sql_condition"].strip()
                if lv.get("is_null_level"):
                    cases.append(f"WHEN {cond} THEN -1")
                    continue
                cases.append(f"ELSE {value}" if cond.upper() == "ELSE"
                             else f"WHEN {cond} THEN {value}")
                value -= 1
            gammas.append(f'CASE {" ".join(cases)} END AS "gamma_{comp["output_column_name"]}"')
        return gammas

    @staticmethod
    def _level_counts(con: duckdb.DuckDBPyConnection, table: str, name: str) -> dict[int, int]:
        return dict(con.execute(f'SELECT "gamma_{name}", count(*) FROM {table} '
                                "GROUP BY 1").fetchall())

    def _u_from_sampling_sql(self, con: duckdb.DuckDBPyConnection, left_rel, right_rel,
                             settings: dict[str, Any], n_left: int, n_right: int
                             ) -> tuple[dict[str, Any], int]:
        """u probabilities from random pairs, in DuckDB SQL.

        About ``u_max_pairs`` pairs (every pair when there are fewer): records of each side
        drawn by a seeded hash of their id (the same sample for the same seed, whatever the
        number of threads), split into up to 50 blocks, every pair formed within a block;
        u = share of the pairs at each level, with a pseudo-count of 0.5 so that no level gets
        u = 0. Splink's own estimator forms every pair of two record samples (at 20k x 200k and
        1M pairs: 316 candidates, against 1,000 here), in repeated chunks, and is about 2.5
        times slower here.
        """
        temp_view(left_rel, "_app_u_l")
        temp_view(right_rel, "_app_u_r")
        columns = [c for c in left_rel.columns if c not in ("unique_id", "source_dataset")]
        sides = ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in columns)
        seed = int(self.seed)
        if n_left * n_right <= self.u_max_pairs:  # small inputs: every pair, exactly
            pairs = f"SELECT {sides} FROM _app_u_l l CROSS JOIN _app_u_r r"
        else:
            # Every pair within blocks: ``blocks`` disjoint groups of sampled platform and
            # source records, each paired with every record of its group. As cheap as one cross
            # product (a join on the block number), with 50 times more distinct platform
            # records than a single cross product of two samples of the same size.
            n = int(self.u_max_pairs)
            k_left = min(n_left, max(1, round(n ** 0.5)))
            blocks = max(1, min(_U_BLOCKS, k_left, (k_left * n_right) // n))
            k_right = min(n_right, -(-n * blocks // k_left))
            pairs = f"""
                WITH l AS (SELECT *, row_number() OVER (ORDER BY hash(unique_id, {seed}),
                                                        unique_id) % {blocks} AS _b
                           FROM _app_u_l ORDER BY hash(unique_id, {seed}), unique_id
                           LIMIT {k_left}),
                     r AS (SELECT *, row_number() OVER (ORDER BY hash(unique_id, {seed}),
                                                        unique_id) % {blocks} AS _b
                           FROM _app_u_r ORDER BY hash(unique_id, {seed}), unique_id
                           LIMIT {k_right})
                SELECT {sides} FROM l JOIN r ON l._b = r._b"""
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _app_u_vectors AS
            WITH pairs AS ({pairs})
            SELECT {", ".join(self._gamma_sql(settings))} FROM pairs""")
        n_pairs = int(con.execute("SELECT count(*) FROM _app_u_vectors").fetchall()[0][0])
        settings = copy.deepcopy(settings)
        for comp in settings["comparisons"]:
            counts = self._level_counts(con, "_app_u_vectors", comp["output_column_name"])
            levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
            k = len(levels)
            observed = sum(counts.get(k - 1 - i, 0) for i in range(k))
            if observed == 0:
                continue  # null in every sampled pair: keep the defaults
            for i, lv in enumerate(levels):
                lv["u_probability"] = (counts.get(k - 1 - i, 0) + _PSEUDO) / (observed + _PSEUDO * k)
        for name in ("_app_u_l", "_app_u_r"):
            con.execute(f"DROP VIEW IF EXISTS {name}")
        con.execute("DROP TABLE IF EXISTS _app_u_vectors")
        return settings, n_pairs

    def _m_from_labels_sql(self, con: duckdb.DuckDBPyConnection, left_rel, right_rel,
                           settings: dict[str, Any], labels, skip: Sequence[str] = ()
                           ) -> tuple[dict[str, Any], int, set[str]]:
        """m probabilities from the comparison levels of labelled pairs, in DuckDB SQL.

        The levels' own ``sql_condition`` (DuckDB dialect) are evaluated on the labelled pairs
        in one query: no Splink linker, table registration or prediction is needed (scoring the
        pairs with Splink gives the same shares, tested, about a second slower per fit).
        Splink's own ``estimate_m_from_pairwise_labels`` does not run on DuckDB 2 (its SQL
        references a column alias before defining it).
        """
        lab = as_relation(con, labels, "labels")
        temp_view(lab, "_app_lab_in")
        temp_view(left_rel, "_app_lab_l")
        temp_view(right_rel, "_app_lab_r")
        columns = [c for c in left_rel.columns if c not in ("unique_id", "source_dataset")]
        sides = ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in columns)
        gammas = self._gamma_sql(settings)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _app_label_vectors AS
            WITH pairs AS (
                SELECT {sides}
                FROM (SELECT DISTINCT CAST(record_id_l AS VARCHAR) AS id_l,
                                      CAST(record_id_r AS VARCHAR) AS id_r
                      FROM _app_lab_in) lab
                JOIN _app_lab_l l ON l.unique_id = lab.id_l
                JOIN _app_lab_r r ON r.unique_id = lab.id_r)
            SELECT {", ".join(gammas)} FROM pairs""")
        for view in ("_app_lab_in", "_app_lab_l", "_app_lab_r"):
            con.execute(f"DROP VIEW IF EXISTS {view}")
        return self._m_from_vector_table(con, settings, skip=skip)

    def _m_from_vector_table(self, con: duckdb.DuckDBPyConnection, settings: dict[str, Any],
                             skip: Sequence[str] = (), only: Sequence[str] | None = None
                             ) -> tuple[dict[str, Any], int, set[str]]:
        """m = share of the labelled pairs (``_app_label_vectors``) at each level, for the
        comparisons in ``only`` (default all) but those in ``skip``. Returns the settings, the
        number of pairs and the comparisons estimated."""
        n_pairs = int(con.execute("SELECT count(*) FROM _app_label_vectors").fetchall()[0][0])
        settings = copy.deepcopy(settings)
        done: set[str] = set()
        if n_pairs == 0:
            con.execute("DROP TABLE IF EXISTS _app_label_vectors")
            return settings, 0, done
        for comp in settings["comparisons"]:
            name = comp["output_column_name"]
            if name in skip or (only is not None and name not in only):
                continue
            counts = self._level_counts(con, "_app_label_vectors", name)
            levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
            k = len(levels)
            observed = sum(counts.get(k - 1 - i, 0) for i in range(k))
            if observed == 0:
                continue  # every labelled pair is null on this comparison: keep the defaults
            for i, lv in enumerate(levels):
                lv["m_probability"] = (counts.get(k - 1 - i, 0) + _PSEUDO) / (observed + _PSEUDO * k)
            done.add(name)
        con.execute("DROP TABLE IF EXISTS _app_label_vectors")
        return settings, n_pairs, done

    # ------------------------------------------------------------------ predict
    def _check_fitted(self):
        if not hasattr(self, "settings_"):
            raise LinkageError("this LinkageModel is not fitted: call fit() or load() first")

    @quiet_splink("scoring")
    def predict(self, left, right, *, threshold_match_probability: float | None = None,
                con: duckdb.DuckDBPyConnection | None = None, backend: Backend | None = None,
                blocking_rules: Sequence[str | BlockingRule] | None = None, pairs=None,
                table_name: str = "_app_predictions", num_chunks: int = 1,
                tf_tables: dict[str, str] | None = None) -> duckdb.DuckDBPyRelation:
        """Score the blocked pairs.

        Args:
            left, right: platform and source features.
            threshold_match_probability: keep only pairs at or above this probability.
            blocking_rules: score the pairs of these rules instead of the model's own.
            pairs: score exactly these pairs (``record_id_l``, ``record_id_r``), e.g. the stage-1
                links, to explain them with the traits model.
            num_chunks: score the platform side in this many chunks (Splink builds and filters
                one chunk's pairs at a time: lower peak memory on large jobs, same results).
            tf_tables: term-frequency tables to use (column → DuckDB table name, as built by
                :meth:`term_frequency_tables`); by default Splink computes them from ``left``
                and ``right``, i.e. from the records scored, not from all the data.

        Returns:
            A DuckDB relation with ``record_id_l`` (platform), ``record_id_r`` (source),
            ``match_weight``, ``match_probability``, one ``gamma_<comparison>`` column per
            comparison (the level reached) and ``mw_<comparison>`` partial weights.
        """
        self._check_fitted()
        backend = backend or make_backend(self.backend, con)
        con = backend.con
        rules = get_rules(blocking_rules) if blocking_rules is not None else None
        extra_l = sorted({c for r in rules or [] for c in r.left_columns})
        extra_r = sorted({c for r in rules or [] for c in r.right_columns})
        extra = sorted(set(extra_l) | set(extra_r))
        left_rel = self.splink_input(con, left, PLATFORM, extra)
        right_rel = self.splink_input(con, right, SOURCE, extra)
        settings = copy.deepcopy(self.settings_)
        if rules is not None:
            dialect = "spark" if backend.name == "spark" else "duckdb"
            settings["blocking_rules_to_generate_predictions"] = [
                r.to_splink().create_blocking_rule_dict(dialect) for r in rules]
        settings["retain_intermediate_calculation_columns"] = True
        settings["retain_matching_columns"] = True  # Splink 5 emits gamma_ columns only then
        if backend.name == "spark":
            settings["sql_dialect"] = "spark"
        blocked_table = None
        if pairs is not None:
            linker, blocked_table = self._explicit_pairs_linker(backend, left_rel, right_rel,
                                                                settings, pairs)
        else:
            linker = self._linker(backend, left_rel, right_rel, settings)
        for column, table in (tf_tables or {}).items():
            linker.table_management.register_term_frequency_lookup(
                backend.register(linker._db_api, con.table(table), f"tf_{column}"), column)
        chunks = {}
        if num_chunks > 1 and pairs is None:
            chunks = {"num_chunks_left": int(num_chunks), "num_chunks_right": 1}
        with (_insertion_order_free(con) if backend.name == "duckdb"
              else contextlib.nullcontext()):
            sdf = linker.inference.predict(
                threshold_match_probability=threshold_match_probability, **chunks)
        raw = backend.to_duckdb(sdf, table_name + "_raw")
        gammas = [c for c in raw.columns if c.startswith("gamma_")]
        mws = [c for c in raw.columns if c.startswith("mw_")]
        if "source_dataset_l" in raw.columns:
            swapped = raw.filter(f"source_dataset_l <> '{PLATFORM}'").count("*").fetchall()[0][0]
            if swapped:
                raise LinkageError("Splink put source records on the left; refusing to guess")
        cols = ", ".join(gammas + mws)
        con.execute(f"""
            CREATE OR REPLACE TABLE {table_name} AS
            SELECT unique_id_l AS record_id_l, unique_id_r AS record_id_r,
                   match_weight, match_probability, {cols}
            FROM {table_name}_raw
        """)
        # intermediate tables do not stay in the user's database (the on-disk option)
        con.execute(f"DROP VIEW IF EXISTS {table_name}_raw")
        linker.table_management.delete_tables_created_by_splink_from_db()
        if blocked_table is not None:
            con.execute(f"DROP TABLE IF EXISTS {blocked_table}")
        return con.table(table_name)

    def term_frequency_columns(self) -> list[str]:
        """Columns whose value frequencies adjust the model's exact-match levels."""
        self._check_fitted()
        return sorted({lv["tf_adjustment_column"] for comp in self.settings_["comparisons"]
                       for lv in comp["comparison_levels"] if lv.get("tf_adjustment_column")})

    def term_frequency_tables(self, con: duckdb.DuckDBPyConnection, left, right,
                              prefix: str = "_app_tf") -> dict[str, str]:
        """Term-frequency tables of both inputs together, as Splink computes them, for
        :meth:`predict` (``tf_tables``): scoring subsets (the stage-2 pools, the exact-stage
        links) then uses the frequencies of all the data.

        Returns:
            Column → name of a DuckDB table (``<column>``, ``tf_<column>``) on ``con``.
        """
        out = {}
        left_rel = as_relation(con, left, "platform")
        right_rel = as_relation(con, right, "source")
        temp_view(left_rel, f"{prefix}_l")
        temp_view(right_rel, f"{prefix}_r")
        for column in self.term_frequency_columns():
            name = f"{prefix}_{column}"
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE {name} AS
                WITH v AS (SELECT "{column}" AS v FROM {prefix}_l
                           UNION ALL SELECT "{column}" FROM {prefix}_r)
                SELECT v AS "{column}",
                       CAST(count(*) AS DOUBLE) / (SELECT count(v) FROM v) AS "tf_{column}"
                FROM v WHERE v IS NOT NULL GROUP BY v""")
            out[column] = name
        return out

    # ------------------------------------------------------------------ explain
    def level_labels(self) -> dict[str, dict[int, str]]:
        """For each comparison, gamma value → label of the level (the "why" of a link)."""
        self._check_fitted()
        out: dict[str, dict[int, str]] = {}
        for comp in self.settings_["comparisons"]:
            levels = comp["comparison_levels"]
            non_null = [lv for lv in levels if not lv.get("is_null_level")]
            mapping = {-1: "missing"}
            for i, lv in enumerate(non_null):
                mapping[len(non_null) - 1 - i] = lv.get("label_for_charts", lv["sql_condition"])
            out[comp["output_column_name"]] = mapping
        return out

    def parameters(self) -> list[dict[str, Any]]:
        """m and u probabilities of every level (for inspection and the quality report)."""
        self._check_fitted()
        rows = []
        for comp in self.settings_["comparisons"]:
            for lv in comp["comparison_levels"]:
                if lv.get("is_null_level"):
                    continue
                rows.append({"comparison": comp["output_column_name"],
                             "level": lv.get("label_for_charts", lv["sql_condition"]),
                             "m_probability": lv.get("m_probability"),
                             "u_probability": lv.get("u_probability")})
        return rows

    # ------------------------------------------------------------------ persistence
    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters; once planned, with the rules and columns chosen (so
        that a saved model reloads with exactly the plan it was trained with)."""
        columns = getattr(self, "columns_", None) or self.columns
        blocking = getattr(self, "blocking_rules_", None) or self.blocking_rules
        training = getattr(self, "training_rules_", None)
        if training is None:
            training = self.training_rules
        return {"blocking_rules": ([_rule_to_json(r) for r in get_rules(blocking)]
                                   if blocking is not None else None),
                "training_rules": ([_rule_to_json(r) for r in get_rules(training)]
                                   if training is not None else None),
                "u_max_pairs": self.u_max_pairs, "em": self.em, "em_max_pairs": self.em_max_pairs,
                "m_from_labels": self.m_from_labels, "seed": self.seed, "backend": self.backend,
                "term_frequency": self.term_frequency, "m_floor": self.m_floor,
                "columns": list(columns) if columns is not None else None,
                "key_column": self.key_column, "key_is_nir": self.key_is_nir,
                "min_fill": self.min_fill, "max_pairs_per_rule": self.max_pairs_per_rule}

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        # step durations stay in memory (``training_log_``) but not in the saved model: the same
        # data and settings must give the same file
        log_ = [{k: v for k, v in step.items() if k != "seconds"} for step in self.training_log_]
        return {"format": _MODEL_FORMAT, "params": self.get_params(),
                "plan": getattr(self, "plan_log_", []),
                "training_log": log_, "splink_settings": self.settings_}

    def save(self, path: str | Path) -> Path:
        """Write the fitted model as JSON (atomically)."""
        return write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LinkageModel":
        if data.get("format") != _MODEL_FORMAT:
            raise ConfigError(f"not an appariement linkage model (format {data.get('format')!r}, "
                              f"expected {_MODEL_FORMAT!r})")
        params = dict(data["params"])
        model = cls(**params)
        model.settings_ = data["splink_settings"]
        model.training_log_ = data.get("training_log", [])
        model.plan_log_ = data.get("plan", [])
        # a fitted model keeps its plan: the rules and columns it was trained with
        model.blocking_rules_ = get_rules(model.blocking_rules or DEFAULT_PREDICTION_RULES)
        model.training_rules_ = get_rules(model.training_rules or ())
        if model.columns is not None:
            model.columns_ = tuple(model.columns)
        return model

    @classmethod
    def load(cls, path: str | Path) -> "LinkageModel":
        """Load a model saved by :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read linkage model {path}: {exc}") from exc
        return cls.from_dict(data)
