"""The front door: one :class:`Project` object, its steps as components.

A notebook user needs one import. The components follow the pipeline's stages, in the spirit of
Splink's ``Linker`` (``linker.training``, ``linker.inference``...)::

    project.inputs          load the configured files, or tables given in code
    project.identities      standardised identity features of both sides
    project.pivot           the exact-stage key (single-machine mode: the NIR itself)
    project.linkage         the cascade: exact key, then probabilistic
    project.quality         precision / recall / F1 against a truth, or the quality report
    project.counterfactual  evaluation dataset and effect estimates

Each step runs the one before it when it has not run yet, and keeps its result, so
``Project.synthetic().linkage.run()`` is a whole linkage. Every step calls the functions the
pipeline and the command line call (:func:`appariement.pipeline.load_inputs`,
:func:`~appariement.pipeline.standardise_both`, :class:`~appariement.linkage.Linkage`,
:func:`~appariement.evaluation.build_report`, ...): a notebook and a batch run compute the same
thing. The tables live on the project's DuckDB connection.

Results are the library's own result objects (a :class:`~appariement.linkage.LinkageResult`
...), given a ``repr`` and a ``_repr_html_`` that show counts only: no name, NIR, birth date or
record id ever appears in them.

Examples:
    >>> from appariement import Project
    >>> [n for n in dir(Project) if n in ("inputs", "linkage", "quality", "counterfactual")]
    ['counterfactual', 'inputs', 'linkage', 'quality']
"""

from __future__ import annotations

import dataclasses
import html
import math
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import duckdb

from ._log import get_logger
from .errors import ConfigError
from .evaluation.counterfactual import EvaluationDataset as _EvaluationDataset
from .evaluation.counterfactual.estimators import EffectEstimates as _EffectEstimates
from .evaluation.quality.report import QualityReport as _QualityReport
from .linkage.cascade import LinkageResult as _LinkageResult
from .pipeline import Inputs as _Inputs

__all__ = ["Project", "IdentityFeatures", "QualityScores"]

log = get_logger(__name__)

#: the platform tables the counterfactual design reads (as the pipeline's stage does)
_COUNTERFACTUAL_TABLES = ("candidats", "candidatures", "structures", "organisations",
                          "diagnostics")
#: the components that keep a result, in the order they run
_STATEFUL_STEPS = ("inputs", "identities", "linkage", "counterfactual")


# ------------------------------------------------------------------------------ summaries

class _Summary:
    """``repr`` and ``_repr_html_`` from :meth:`_summary_rows` (label, value) pairs.

    The rows are counts and settings only, never a value of a record.
    """

    _title = "result"

    def _summary_rows(self) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        rows = ", ".join(f"{label}={_fmt(value)}" for label, value in self._summary_rows())
        return f"<{self._title}: {rows}>"

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(str(label))}</th>"
                       f"<td style='text-align:right'>{html.escape(_fmt(value))}</td></tr>"
                       for label, value in self._summary_rows())
        return (f"<table><caption style='text-align:left'><b>{html.escape(self._title)}</b>"
                f"</caption>{body}</table>")


def _fmt(value: Any) -> str:
    """Counts without decimals, other numbers with 4 significant digits, booleans as words."""
    from .evaluation.labels import fmt_value
    if isinstance(value, (bool, int, float)) or value is None:
        return fmt_value(value, None, "en")
    return str(value)


def _view(cls: type, result: Any) -> Any:
    """``result`` as an instance of ``cls`` (its subclass with a summary), same fields."""
    return cls(**{f.name: getattr(result, f.name) for f in dataclasses.fields(result)
                  if f.init})


class _ShownInputs(_Summary, _Inputs):
    """:class:`appariement.pipeline.Inputs` with a summary (rows read / kept / set aside)."""

    _title = "inputs"

    def _summary_rows(self):
        rows = []
        for table, c in sorted(self.counts.items()):
            if isinstance(c, Mapping):
                kept, rejected = c.get("kept"), c.get("rejected")
                rows.append((table, f"{kept} rows" + (f", {rejected} set aside"
                                                      if rejected else "")))
        return rows


class _ShownLinkageResult(_Summary, _LinkageResult):
    """:class:`appariement.linkage.LinkageResult` with a summary of its counts."""

    _title = "linkage"
    _KEYS = ("platform_records", "source_records", "links_match", "links_match_pivot_exact",
             "links_match_probabilistic", "links_review", "links_non_match",
             "unlinked_platform", "unlinked_source")

    def _summary_rows(self):
        return [(k, self.counts[k]) for k in self._KEYS if k in self.counts]


class _ShownQualityReport(_Summary, _QualityReport):
    """:class:`appariement.evaluation.QualityReport` with a summary: its disclosure-controlled
    table of links by method and decision, and its sections."""

    _title = "quality report"

    def _summary_rows(self):
        rows: list[tuple[str, Any]] = []
        table = self.figures.get("links_by_method_decision", {})
        from .evaluation.labels import label
        for r in table.get("rows", []):
            rows.append((f"{label(r.get('method'), 'en')} / "
                         f"{label(r.get('decision'), 'en').lower()}", r.get("n")))
        rows.append(("sections", len(self.figures)))
        return rows


class _ShownEvaluationDataset(_Summary, _EvaluationDataset):
    """:class:`appariement.evaluation.EvaluationDataset` with a summary: trials by arm and
    exclusions by reason."""

    _title = "evaluation dataset"

    def _summary_rows(self):
        rows: list[tuple[str, Any]] = [("trials", self.counts.get("trials"))]
        rows += [(f"arm {arm}", n) for arm, n in self.counts.get("by_arm", {}).items()]
        rows += [(f"excluded: {why}", n)
                 for why, n in self.counts.get("exclusions", {}).items()]
        rows.append(("follow-up end", self.follow_up_end))
        return rows


class _ShownEffectEstimates(_Summary, _EffectEstimates):
    """:class:`appariement.evaluation.EffectEstimates` with a summary: one row per method."""

    _title = "effect estimates"

    def _summary_rows(self):
        rows = []
        for r in self.table.to_dict(orient="records"):
            low, high = r.get("ci_low"), r.get("ci_high")
            ci = (f" [{_fmt(low)}, {_fmt(high)}]"
                  if isinstance(low, float) and math.isfinite(low) else "")
            rows.append((f"{r['outcome']} {r['method']}",
                         f"{_fmt(r['estimate'])}{ci} (treated {r.get('n_treated')}, "
                         f"control {r.get('n_control')})"))
        return rows


@dataclasses.dataclass(repr=False)
class IdentityFeatures(_Summary):
    """The standardised identity features of both sides (DuckDB relations).

    Attributes:
        platform: one row per candidate (:data:`appariement.identity.FEATURE_COLUMNS`).
        source: one row per source person.

    Examples:
        >>> # features = Project.synthetic().identities.standardise()
        >>> # features.platform.columns[:3]
    """

    platform: duckdb.DuckDBPyRelation
    source: duckdb.DuckDBPyRelation

    _title = "identity features"

    def write(self, out_dir: str | Path) -> dict[str, str]:
        """Write ``features_platform.parquet`` and ``features_source.parquet`` (atomically,
        folder 0700). They hold identities: write them only where identities may be.

        Returns:
            name -> path.
        """
        from ._paths import private_dir
        from .pipeline import _write_parquet

        out = private_dir(out_dir)
        written = {}
        for side in ("platform", "source"):
            path = out / f"features_{side}.parquet"
            _write_parquet(getattr(self, side), path)
            written[side] = str(path)
        return written

    def _summary_rows(self):
        return [(f"{side} records", int(getattr(self, side).count("*").fetchall()[0][0]))
                for side in ("platform", "source")] + [("features", len(self.platform.columns))]


class QualityScores(_Summary, dict):
    """Precision, recall and F1 of the links against a truth (a dict, see
    :func:`appariement.evaluation.score_against_truth`).

    Examples:
        >>> QualityScores({"precision": 1.0, "recall": 0.5, "f1": 0.667})
        <match quality: precision=1, recall=0.5, f1=0.667>
    """

    _title = "match quality"

    def _summary_rows(self):
        return list(self.items())


# ------------------------------------------------------------------------------ components

class _Step:
    """A component of a :class:`Project`: it reads the project's config and connection."""

    def __init__(self, project: "Project"):
        self._project = project

    def __repr__(self) -> str:
        done = "run" if getattr(self, "result", None) is not None else "not run yet"
        return f"<{type(self).__name__} of project {self._project.name!r}: {done}>"


class InputsStep(_Step):
    """Load and check the platform extract and the source (the data contract).

    Without arguments, :meth:`load` reads the tables the project was given
    (:meth:`Project.synthetic`) or else the files of ``[inputs]``; with ``platform`` and
    ``source`` it reads those (folders, files or frames). ``[inputs]`` options (mapping,
    profile, recoding, rejects...) apply either way.
    """

    result: _ShownInputs | None = None

    def load(self, platform: Any = None, source: Any = None) -> _ShownInputs:
        """Read and check the inputs; the result is kept for the next steps.

        Args:
            platform: a folder or ``{table: path_or_frame}`` of the platform extract (None:
                the project's own tables or ``[inputs]``).
            source: the same for the source; given together with ``platform``.

        Returns:
            :class:`appariement.pipeline.Inputs`: ``tables`` (relations), ``counts``.

        Raises:
            ConfigError: only one side given, or ``[inputs]`` names no files.
            InputError: a table breaks the data contract.

        Examples:
            >>> # inputs = Project.from_toml("projet.toml").inputs.load()
            >>> # inputs.tables["candidats"].count("*")
        """
        from .pipeline import _Run, load_config_files, load_inputs

        p = self._project
        con, cfg = p._connection(), p.config
        if (platform is None) != (source is None):
            raise ConfigError("inputs.load: give both platform and source, or neither (then "
                              "the project's tables or the files of [inputs] are read)")
        if platform is None and p._tables is not None:
            platform, source = p._tables
        if platform is not None:
            inputs = load_inputs(con, platform, source, as_of=cfg.project.as_of,
                                 **cfg.inputs.load_options())
        else:
            inputs = load_config_files(con, cfg, _Run.find_input_files(cfg))
        self.result = _view(_ShownInputs, inputs)
        p._forget_after("inputs")
        return self.result

    @property
    def tables(self) -> dict[str, duckdb.DuckDBPyRelation]:
        """The loaded tables (loaded now if they were not)."""
        return (self.result or self.load()).tables


class IdentitiesStep(_Step):
    """Standardise the identities of both sides (``candidats`` and ``personnes``) with the
    ``[identity]`` options; materialised as ``features_platform`` / ``features_source``."""

    result: IdentityFeatures | None = None

    def standardise(self) -> IdentityFeatures:
        """Standardised identity features of both sides.

        Returns:
            :class:`IdentityFeatures` (``platform``, ``source`` relations, ``write(dir)``).

        Examples:
            >>> # features = Project.synthetic(n_candidates=200).identities.standardise()
        """
        from .pipeline import standardise_both

        p = self._project
        tables = p.inputs.tables
        ident = p.config.identity
        con = p._connection()
        for side in ("platform", "source"):  # a second run replaces the first one's tables
            con.execute(f"DROP TABLE IF EXISTS features_{side}")
        pf, sf = standardise_both(con, tables["candidats"], tables["personnes"],
                                  year_pivot=ident.year_pivot,
                                  first_name_variants=ident.first_name_variants)
        self.result = IdentityFeatures(pf, sf)
        p._forget_after("identities")
        return self.result

    @property
    def features(self) -> IdentityFeatures:
        """The features (standardised now if they were not)."""
        return self.result or self.standardise()


class PivotStep(_Step):
    """The exact-stage key (``[pivot] mode``).

    In the single-machine mode (``none``) the key is the plaintext NIR: the features go to the
    linkage as they are. The protected modes (``pseudonymise``, ``pivot``: keys, encrypted
    exchanges) run through :func:`appariement.pipeline.run_pipeline` for now.
    """

    def apply(self) -> IdentityFeatures:
        """The features keyed for the exact stage.

        Raises:
            ConfigError: ``[pivot] mode`` is not ``none``.

        Examples:
            >>> # features = Project.synthetic().pivot.apply()
        """
        p = self._project
        mode = p.config.pivot.mode
        if mode != "none":
            raise ConfigError(f"pivot.mode = {mode!r}: Project runs the single-machine mode "
                              "('none') only; run the protected modes with "
                              "appariement.pipeline.run_pipeline(config) or `appariement run`")
        return p.identities.features


class LinkageStep(_Step):
    """The cascade on the project's features: exact key, then probabilistic (``[linkage]``)."""

    result: _ShownLinkageResult | None = None

    def run(self, *, model=None) -> _ShownLinkageResult:
        """Link the candidates to the source persons.

        Args:
            model: a fitted :class:`~appariement.linkage.LinkageModel` to reuse (None: trained
                here), as :class:`~appariement.linkage.Linkage` takes it.

        Returns:
            The :class:`~appariement.linkage.LinkageResult`: ``links``, ``counts``,
            ``write(dir)``...

        Raises:
            LinkageError: the linkage cannot run on these features.

        Examples:
            >>> # result = Project.synthetic(n_candidates=300).linkage.run()
            >>> # result.counts["links_match"], result.links.df()
        """
        from .linkage import Linkage
        from .pipeline import _link_key

        p = self._project
        features = p.pivot.apply()
        pf, sf = features.platform, features.source
        config = p.config.linkage_config(_link_key(pf, sf))
        result = Linkage(config, con=p._connection(), model=model).run(pf, sf)
        self.result = _view(_ShownLinkageResult, result)
        p._forget_after("linkage")
        return self.result

    @property
    def links(self) -> duckdb.DuckDBPyRelation:
        """The links (the linkage runs now if it has not)."""
        return (self.result or self.run()).links


class QualityStep(_Step):
    """Match quality: against a known truth, or the disclosure-controlled quality report
    (``[quality]``) otherwise."""

    def evaluate(self, truth: Any = None) -> QualityScores | _ShownQualityReport:
        """Score the links.

        Args:
            truth: the true pairs, ``candidat_id``, ``person_id`` (a DataFrame, Arrow table,
                relation or file; :attr:`Project.truth` for a synthetic project). None: the
                quality report, which needs no truth.

        Returns:
            With a truth, :class:`QualityScores` (precision, recall, F1 of the ``match``
            links); otherwise the :class:`~appariement.evaluation.QualityReport`
            (``figures``, ``html``, ``write(dir)``).

        Raises:
            InputError: the truth lacks ``candidat_id`` or ``person_id``.

        Examples:
            >>> # p = Project.synthetic(n_candidates=300)
            >>> # p.quality.evaluate(truth=p.truth)["precision"]
        """
        from .evaluation import score_against_truth

        p = self._project
        result = p.linkage.result or p.linkage.run()
        if truth is not None:
            return QualityScores(score_against_truth(result.links, truth, con=p._connection()))
        return self._report(result)

    def _report(self, result) -> _ShownQualityReport:
        from .pipeline import quality_report

        p = self._project
        th = result.config.thresholds
        report = quality_report(p._connection(), result.links, p.identities.features.platform,
                                p.inputs.tables, p.config.quality, counts=result.counts,
                                model=result.model, thresholds=(th.match, th.review),
                                features_source=p.identities.features.source,
                                language=p.config.report.language)
        return _view(_ShownQualityReport, report)


class CounterfactualStep(_Step):
    """The evaluation dataset and the effect estimates, with the ``[counterfactual]`` design
    (links kept: decision ``match``)."""

    result: _ShownEvaluationDataset | None = None

    def dataset(self) -> _ShownEvaluationDataset:
        """Build the evaluation dataset (one row per trial).

        Returns:
            The :class:`~appariement.evaluation.EvaluationDataset` (``relation``, ``counts``,
            ``to_pandas()``).

        Raises:
            SchemaError: a table the design needs is missing (``periodes_emploi``...).

        Examples:
            >>> # ds = Project.synthetic(n_candidates=300).counterfactual.dataset()
        """
        from .evaluation import build_evaluation_dataset

        p = self._project
        platform, employment = self._tables()
        links = p.linkage.links
        ds = build_evaluation_dataset(p._connection(), platform, employment, links,
                                      design=p.config.counterfactual_design())
        self.result = _view(_ShownEvaluationDataset, ds)
        return self.result

    def estimate(self, outcome: str | None = None, *, n_boot: int | None = None
                 ) -> _ShownEffectEstimates:
        """Estimate the effect on the treated of an IAE hire (naive, IPW, matching).

        Args:
            outcome: an outcome column (None: the first of ``[counterfactual] outcomes``).
            n_boot: bootstrap replicates (None: ``[counterfactual] n_boot``; 0: point
                estimates only).

        Returns:
            The :class:`~appariement.evaluation.EffectEstimates` (``table``, ``balance``).

        Raises:
            ConfigError: unknown outcome or option.

        Examples:
            >>> # Project.synthetic(n_candidates=400).counterfactual.estimate(n_boot=0).table
        """
        from .evaluation import estimate_effects

        p = self._project
        cf = p.config.counterfactual
        ds = self.result or self.dataset()
        est = estimate_effects(ds, outcome or cf.outcomes[0],
                               n_boot=cf.n_boot if n_boot is None else n_boot,
                               seed=p.config.project.seed)
        return _view(_ShownEffectEstimates, est)

    def write(self, out_dir: str | Path) -> dict:
        """Write the disclosure-controlled outputs of the pipeline's counterfactual stage
        (``evaluation.parquet``, codebook, ``counterfactual.json`` / ``.html``) to ``out_dir``.

        Returns:
            The content of ``counterfactual.json``.

        Examples:
            >>> # Project.synthetic().counterfactual.write("out/counterfactual")
        """
        from .evaluation.counterfactual.report import run_counterfactual

        p = self._project
        cfg = p.config
        cf = cfg.counterfactual
        platform, employment = self._tables()
        return run_counterfactual(platform, employment, p.linkage.links, out_dir,
                                  design=cfg.counterfactual_design(),
                                  outcomes=tuple(cf.outcomes), n_boot=cf.n_boot,
                                  seed=cfg.project.seed,
                                  thresholds=tuple(cf.sensitivity_thresholds),
                                  min_cell=cfg.quality.min_cell, con=p._connection(),
                                  language=cfg.report.language)

    def _tables(self):
        tables = self._project.inputs.tables
        if "periodes_emploi" not in tables:
            from .errors import SchemaError

            raise SchemaError("the counterfactual needs the source table periodes_emploi, "
                              "which the inputs lack", table="periodes_emploi")
        platform = {t: r for t, r in tables.items() if t in _COUNTERFACTUAL_TABLES}
        return platform, tables["periodes_emploi"]


# ------------------------------------------------------------------------------ the facade

class DeliveriesStep(_Step):
    """The project's series of deliveries (:mod:`appariement.deliveries`): each delivery is
    a run of the config's files into ``<outputs.dir>/deliveries/<name>/``; the first trains
    and freezes the model, later ones reuse it and score only what changed.

    Examples:
        >>> # project = Project.from_toml("projet.toml")
        >>> # project.deliveries.run("2026T3"); project.deliveries.series
    """

    def run(self, name: str | None = None, *, retrain: bool | None = None,
            progress: bool | None = False):
        """Run one delivery (None: ``[delivery] name``); returns its run manifest.

        Raises:
            ConfigError, DeliveryError: see :func:`appariement.deliveries.run_delivery`.
        """
        from .deliveries import run_delivery

        return run_delivery(self._project.config, name, retrain=retrain, progress=progress)

    @property
    def series(self) -> list[dict]:
        """The completed deliveries, in order (name, the one it follows, retrained)."""
        from .deliveries import read_series

        return [{k: e.get(k) for k in ("name", "previous", "retrained")}
                for e in read_series(self._project.config)]


class Project(_Summary):
    """One linkage project: a configuration, a DuckDB connection and the steps as components.

    Args:
        config: a :class:`~appariement.config.Config`, a dict of TOML sections (checked as a
            file would be), the path of a TOML file, or None (every default; give the tables
            to :meth:`InputsStep.load`).
        con: a DuckDB connection to work on (None: the project opens an in-memory one, with
            ``[backend]`` threads / memory_limit / temp_dir, and closes it in :meth:`close`).

    Attributes:
        config: the validated :class:`~appariement.config.Config`.
        truth: the true links of a synthetic project (None otherwise).

    Raises:
        ConfigError: the config is not valid.

    Examples:
        >>> from appariement import Project
        >>> with Project({"linkage": {"match_threshold": 0.95}}) as p:
        ...     p.config.linkage.match_threshold
        0.95
    """

    def __init__(self, config: Any = None, *, con: duckdb.DuckDBPyConnection | None = None):
        from .config import Config, config_from_dict, load_config

        if config is None:
            config = Config()
        elif isinstance(config, (str, Path)):
            config = load_config(config)
        elif isinstance(config, Mapping):
            config = config_from_dict(config)
        elif not isinstance(config, Config):
            raise ConfigError(f"Project(config=...) takes a Config, a dict of TOML sections or "
                              f"the path of a TOML file, not a {type(config).__name__}")
        from ._log import notebook_logging
        notebook_logging()  # progress under the cell in Jupyter; nothing elsewhere
        self.config = config
        self.truth = None
        self._tables: tuple[Any, Any] | None = None
        self._owns_con = con is None
        self._con = con if con is not None else self._open()
        self._closed = False

    def _open(self) -> duckdb.DuckDBPyConnection:
        from ._tables import connect

        backend = self.config.backend
        return connect(":memory:", threads=backend.threads, memory_limit=backend.memory_limit,
                       temp_directory=str(backend.temp_dir) if backend.temp_dir else None)

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path, *, con: duckdb.DuckDBPyConnection | None = None
                  ) -> "Project":
        """A project from a TOML config file (what ``appariement init`` writes).

        Raises:
            ConfigError: missing or invalid file.

        Examples:
            >>> # p = Project.from_toml("projet.toml"); p.linkage.run()
        """
        from .config import load_config

        return cls(load_config(path), con=con)

    @classmethod
    def synthetic(cls, n_candidates: int = 500, seed: int = 42, *, source_ratio: float = 10.0,
                  config: Mapping[str, Any] | None = None) -> "Project":
        """A project on generated data (:func:`appariement.synth.generate`), in memory.

        The config is the demo's, in the single-machine mode: inputs checked as of
        2026-01-01 with bad rows set aside (employment spells after that date), the seed
        used for the data and the linkage. :attr:`truth` holds the true links.

        Args:
            n_candidates: candidates on the platform.
            seed: seed of the generator and of the project.
            source_ratio: size of the source relative to the candidates.
            config: TOML sections overriding the demo's (e.g. ``{"linkage": {...}}``).

        Raises:
            ConfigError: a generator parameter or a config value is not allowed.

        Examples:
            >>> # p = Project.synthetic(n_candidates=300, seed=1)
        """
        from .config import config_from_dict
        from .synth import SynthConfig, generate

        data = generate(SynthConfig(n_candidates=n_candidates, seed=seed,
                                    source_ratio=source_ratio))
        sections: dict[str, dict[str, Any]] = {
            "project": {"name": "synthetic", "seed": seed, "as_of": "2026-01-01"},
            "inputs": {"rejects": "set_aside"},
            "counterfactual": {"outcomes": ["employed_12m", "employed_24m"],
                               "sensitivity_thresholds": [0.5, 0.9]}}
        for name, values in (config or {}).items():
            sections.setdefault(name, {}).update(values)
        project = cls(config_from_dict(sections))
        project._tables = (data.platform, data.source)
        project.truth = data.truth["links"]
        return project

    # -- components --------------------------------------------------------------------------
    @cached_property
    def inputs(self) -> InputsStep:
        """Load and check the inputs: ``.load()``, ``.tables``."""
        return InputsStep(self)

    @cached_property
    def identities(self) -> IdentitiesStep:
        """Standardise both sides' identities: ``.standardise()``, ``.features``."""
        return IdentitiesStep(self)

    @cached_property
    def pivot(self) -> PivotStep:
        """The exact-stage key: ``.apply()``."""
        return PivotStep(self)

    @cached_property
    def linkage(self) -> LinkageStep:
        """The cascade: ``.run()`` -> LinkageResult, ``.links``."""
        return LinkageStep(self)

    @cached_property
    def quality(self) -> QualityStep:
        """Match quality: ``.evaluate(truth=None)``."""
        return QualityStep(self)

    @cached_property
    def counterfactual(self) -> CounterfactualStep:
        """Evaluation dataset and effects: ``.dataset()``, ``.estimate()``, ``.write(dir)``."""
        return CounterfactualStep(self)

    @cached_property
    def deliveries(self) -> DeliveriesStep:
        """The series of deliveries: ``.run(name)``, ``.series``."""
        return DeliveriesStep(self)

    # -- state -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The project name (``[project] name``)."""
        return self.config.project.name

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The project's DuckDB connection."""
        return self._connection()

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._closed:
            raise ConfigError(f"project {self.name!r} is closed; create a new Project")
        return self._con

    def _forget_after(self, step: str) -> None:
        """A step re-ran: the results of the later steps no longer match it."""
        self._forget(_STATEFUL_STEPS[_STATEFUL_STEPS.index(step) + 1:])

    def _forget(self, steps) -> None:
        for name in steps:
            component = self.__dict__.get(name)
            if component is not None:
                component.result = None

    def close(self) -> None:
        """Close the connection if the project opened it; the results are forgotten (their
        tables are gone)."""
        if not self._closed and self._owns_con:
            self._con.close()
        self._closed = True
        self._forget(_STATEFUL_STEPS)

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _steps_done(self) -> list[str]:
        return [name for name in _STATEFUL_STEPS
                if getattr(self.__dict__.get(name), "result", None) is not None]

    _title = "Project"

    def _summary_rows(self):
        return [("name", self.name), ("pivot mode", self.config.pivot.mode),
                ("done", " + ".join(self._steps_done()) or "nothing yet"),
                ("connection", "closed" if self._closed else "open")]
