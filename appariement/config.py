"""The batch configuration: one TOML file drives every stage of :func:`appariement.pipeline.run_pipeline`.

The file is read with :mod:`tomllib` (standard library) into frozen dataclasses. Every key is
checked: an unknown key, a wrong type or a value out of range raises :class:`ConfigError` naming
the full dotted key (``linkage.match_threshold``) and the allowed values. Relative paths resolve
against the folder of the config file (``pathlib`` everywhere, so Windows paths work). Keys are
given as paths (or ``env:VARIABLE``), never inline: key material found in the file is refused.

Sections: ``[project]``, ``[inputs]``, ``[keys]``, ``[pivot]``, ``[identity]``, ``[linkage]``,
``[backend]``, ``[quality]``, ``[counterfactual]``, ``[report]``, ``[outputs]``,
``[delivery]`` — see :func:`example_config`
(what ``appariement init`` writes) for every key with its default and meaning.

Examples:
    >>> cfg = config_from_dict({"project": {"name": "demo"}, "inputs": {"platform": "data/p",
    ...                         "source": "data/s"}}, base_dir=".")
    >>> cfg.linkage.match_threshold, cfg.backend.engine
    (0.9, 'duckdb')
    >>> config_from_dict({"linkage": {"assignment": "greedy"}})
    Traceback (most recent call last):
    ...
    appariement.errors.ConfigError: linkage.assignment = 'greedy' is not allowed; allowed values: one_to_one, many_to_one
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .blocking.analysis import DEFAULT_COMPARISON_BUDGET
from .errors import ConfigError
from .evaluation.counterfactual.dataset import (DEFAULT_OUTCOMES, LATER_HIRES,
                                                REFUSAL_CLASS_NAMES, UNITS, UNLINKED_POLICIES,
                                                CounterfactualDesign)
from .evaluation.counterfactual.report import DEFAULT_N_BOOT, SENSITIVITY_THRESHOLDS
from .evaluation.disclosure import DEFAULT_THRESHOLD
from .evaluation.labels import LANGUAGES
from .evaluation.quality.thresholds import OBJECTIVES
from .identity.consistency import CONSISTENCY_STATUSES
from .identity.dates import DEFAULT_YEAR_PIVOT
from .io.load import RejectPolicy
from .linkage import ASSIGNMENT_MODES, BACKENDS, LinkageConfig, Thresholds

__all__ = [
    "Config", "ProjectConfig", "InputsConfig", "KeysConfig", "PivotConfig", "IdentityConfig",
    "LinkageSection", "BackendConfig", "QualityConfig", "CounterfactualSection", "ReportSection",
    "OutputsConfig", "DeliverySection", "DELIVERY_NAME", "DELIVERY_HINT", "load_config",
    "config_from_dict", "example_config", "load_config_text",
    "PIVOT_MODES", "add_option", "option_field",
    "check_options",
]

PIVOT_MODES = ("none", "pseudonymise", "pivot")
#: a delivery's name (a folder name under <outputs.dir>/deliveries/)
DELIVERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DELIVERY_HINT = "1-64 letters, digits, '_', '.', '-', not starting with '.', '_' or '-'"
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
_REJECTS = tuple(p.value for p in RejectPolicy)
_LINKAGE = {f.name: f.default for f in dataclasses.fields(LinkageConfig)}
_DESIGN = {f.name: f.default for f in dataclasses.fields(CounterfactualDesign)}


def _f(default: Any, kind: Any, doc: str = "", *, example: str | None = None,
       **checks: Any) -> Any:
    """A dataclass field with its documentation and validation spec in the metadata.

    ``kind``: ``str``, ``int``, ``float``, ``bool``, ``"path"``, ``"date"``, ``"key"`` (a key
    path or ``env:NAME``), ``("list", kind)``, ``("map", kind)`` (string keys),
    ``"mapping"`` (``{table: {column: column}}``), ``"recode"`` (``{table: {column: {label:
    code}}}``), ``"profile"`` (an import profile name or a list of names, kept as a tuple),
    ``"auto_bool"`` (true, false or "auto"). ``doc``: the comment of the key in the example
    config (and the CLI help of the option standing for it); ``example``: TOML text shown,
    commented, when the default is unset. ``checks``: ``choices``, ``min``, ``max``,
    ``pattern`` (with ``hint``), ``optional`` (None allowed; implied when the default is None).
    """
    meta = {"kind": kind, "doc": doc, "example": example, **checks}
    if isinstance(default, (list, dict, tuple)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ProjectConfig:
    """``[project]``: the project's name, seed and reference date."""

    name: str = _f("appariement", str, "pseudonyms and pivot codes are derived per project name",
                   pattern=re.compile(r"^[A-Za-z0-9_.-]{1,64}$"),
                   hint="1-64 letters, digits, '_', '.', '-'")
    seed: int = _f(_LINKAGE["seed"], int, "seeds every random step (model training, bootstrap)",
                   min=0, max=2**32 - 1)
    as_of: dt.date | None = _f(None, "date", "reference date of the input date checks "
                               "(default: today)", example='"2026-01-01"')


@dataclass(frozen=True)
class InputsConfig:
    """``[inputs]``: where the platform extract and the source are, and how to read them."""

    platform: Path | None = _f(None, "path", "folder with candidats.parquet|csv, "
                               "candidatures... (or platform/)", example='"data/platform"')
    source: Path | None = _f(None, "path", "folder with personnes, periodes_emploi",
                             example='"data/source"')
    platform_files: dict = _f({}, ("map", "path"), "a file per table (overrides the folder)",
                              example='{ candidats = "extract/cand_2025.csv" }')
    source_files: dict = _f({}, ("map", "path"), "a file per table (overrides the folder)",
                            example='{ personnes = "dares/personnes.parquet" }')
    encoding: str = _f("auto", str, "CSV files", choices=("auto", "utf-8", "latin-1"))
    sep: str = _f("auto", str, "CSV files", choices=("auto", ";", ",", "\t", "|"))
    rejects: str = _f("raise", str, "raise: stop on bad rows; set_aside: write them to "
                      "rejects.parquet", choices=_REJECTS)
    on_mixed_encoding: str = _f("error", str, "a CSV mixing UTF-8 and other lines: error, or "
                                "warn and decode per line", choices=("error", "warn"))
    on_nir_scientific: str = _f("error", str, "NIRs a spreadsheet wrote as 1.85E+14: error, "
                                "or null (read as missing)", choices=("error", "null"))
    profile: tuple | None = _f(None, "profile", "import profile of a real source (its table "
                               "and column names, its labels -> the contract's codes); a list "
                               "combines profiles of different tables",
                               example='"les_emplois_extract"')
    mapping: dict = _f({}, "mapping", "your column name = canonical name (applies on top of "
                       "the profile)", example='[inputs.mapping.candidats]\nNIR_PERSONNE = "nir"')
    recode: dict = _f({}, "recode", "your label = the contract's code (\"\" for NULL)",
                      example='[inputs.recode.candidatures.etat]\n'
                              '"Candidature declinee" = "refused"')

    def load_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`appariement.io.load_tables` this section sets
        (``mapping``, ``profile``, ``recode``, ``rejects``, CSV options and policies)."""
        return {"mapping": self.mapping or None,
                "profile": None if self.profile is None else list(self.profile),
                "recode": self.recode or None, "rejects": self.rejects,
                "encoding": None if self.encoding == "auto" else self.encoding,
                "sep": None if self.sep == "auto" else self.sep,
                "on_mixed_encoding": self.on_mixed_encoding,
                "on_nir_scientific": self.on_nir_scientific}


@dataclass(frozen=True)
class KeysConfig:
    """``[keys]``: key FILES (appariement keygen) or "env:VARIABLE", never key material."""

    pseudonym: str | None = _f(None, "key", 'pivot.mode = "pseudonymise"',
                               example='"keys/project.key"')
    pivot: str | None = _f(None, "key", 'pivot.mode = "pivot"', example='"keys/pivot.key"')
    pivot_exchange: str | None = _f(None, "key", "the pivot's X25519 key (with statistician: "
                                    "the files travel encrypted)",
                                    example='"keys/pivot_x25519.key"')
    statistician: str | None = _f(None, "key", "the statistician's X25519 key",
                                  example='"keys/statistician_x25519.key"')


@dataclass(frozen=True)
class PivotConfig:
    """``[pivot]``: protection of the exact-stage key (none, keyed pseudonym, pivot code)."""

    mode: str = _f("none", str, "none: exact stage on the plain NIR (single-machine mode); "
                   "pseudonymise: keyed pseudonym of the NIR (keys.pseudonym); pivot: pivot "
                   "codes from the pivot authority (keys.pivot)", choices=PIVOT_MODES)
    codes_for_inconsistent: bool = _f(False, bool, "give rows whose NIR disagrees with their "
                                      "traits the code of their NIR (flagged)")
    probabilistic_traits: bool = _f(False, bool, "rows without a usable NIR nor a unique "
                                    "exact-traits match are linked to the reference by the "
                                    "traits model (traits_probable)")


@dataclass(frozen=True)
class IdentityConfig:
    """``[identity]``: which NIR consistency statuses are trusted for an exact match; how
    two-digit birth years are read; extra first-name equivalences."""

    trusted_consistency: tuple = _f(_LINKAGE["trusted_consistency"], ("list", str),
                                    "NIR statuses trusted for exact links (exact stage and "
                                    "pivot)", choices=CONSISTENCY_STATUSES)
    year_pivot: int = _f(DEFAULT_YEAR_PIVOT, int, "two-digit birth years: 00-10 -> 2000-2010, "
                         "11-99 -> 1911-1999", min=0, max=99)
    first_name_variants: Path | None = _f(None, "path", "extra equivalent spellings "
                                          "(canonical,variant,group)", example='"prenoms.csv"')


@dataclass(frozen=True)
class LinkageSection:
    """``[linkage]``: maps onto :class:`appariement.linkage.LinkageConfig`."""

    exact_stage: bool = _f(True, bool, "false: traits-only linkage")
    match_threshold: float = _f(Thresholds.match, float, "match_probability >= this: match",
                                min=0.0, max=1.0)
    review_threshold: float = _f(Thresholds.review, float, ">= this: review; below: non_match",
                                 min=0.0, max=1.0)
    assignment: str = _f(_LINKAGE["assignment"], str, "one link per candidate and per person, "
                         "or several candidates per person", choices=ASSIGNMENT_MODES)
    comparison_budget: int = _f(DEFAULT_COMPARISON_BUDGET, int, "refuse to link if blocking "
                                "generates more pairs", min=1)
    blocking_rules: tuple | None = _f(None, ("list", str), "names from "
                                      "appariement.blocking.FRENCH_RULES (default: chosen from "
                                      "the features at hand)",
                                      example='["dob", "name_yob", "phon_first_phon"]')
    training_rules: tuple | None = _f(None, ("list", str), "EM training rules (default: chosen "
                                      "by counting their pairs)", example='["dob"]')
    recheck_exact: bool = _f(_LINKAGE["recheck_exact"], bool, "score the exact stage's links "
                             "with the model too")
    em: bool | str = _f(_LINKAGE["em"], "auto_bool", 'EM passes: "auto" (only without enough '
                        'exact-key labels), true or false')
    m_from_labels: bool = _f(_LINKAGE["m_from_labels"], bool, "m probabilities from the "
                             "exact-key links when there are enough")
    u_max_pairs: float = _f(_LINKAGE["u_max_pairs"], float, "random pairs sampled for the u "
                            "probabilities", min=1e3)
    min_report_probability: float = _f(_LINKAGE["min_report_probability"], float, "pairs "
                                       "below this probability are not kept", min=0.0, max=1.0)


@dataclass(frozen=True)
class BackendConfig:
    """``[backend]``: the SQL engine and its resources."""

    engine: str = _f(_LINKAGE["backend"], str, "the SQL engine", choices=BACKENDS)
    database: str = _f(":memory:", str, "or a .duckdb file for data larger than memory")
    memory_limit: str | None = _f(None, str, "DuckDB's memory limit", example='"16GB"',
                                  pattern=_MEMORY, hint="e.g. '16GB' or '512MB'")
    temp_dir: Path | None = _f(None, "path", "where DuckDB spills (use an encrypted volume)",
                               example='"tmp"')
    threads: int | None = _f(None, int, "threads (default: every core; 1 for byte-identical "
                             "reruns)", example="4", min=1, max=1024)


@dataclass(frozen=True)
class QualityConfig:
    """``[quality]``: the quality report and its disclosure control."""

    enabled: bool = _f(True, bool, "write the quality report")
    min_cell: int = _f(DEFAULT_THRESHOLD, int, "smallest published count", min=1)
    rounding: int | None = _f(None, int, "round published counts to a multiple of this",
                              example="5", min=1)
    objective: str = _f(OBJECTIVES[0], str, "how the recommended threshold is chosen",
                        choices=OBJECTIVES)
    target: float = _f(0.01, float, "the error rate targeted by the max_recall_at_fdr and "
                       "max_precision_at_fnr objectives", min=0.0, max=1.0)


@dataclass(frozen=True)
class CounterfactualSection:
    """``[counterfactual]``: the evaluation dataset design and the estimates (maps onto
    :class:`appariement.evaluation.CounterfactualDesign`)."""

    enabled: bool = _f(True, bool, "build the evaluation dataset and the estimates")
    grace_days: int = _f(_DESIGN["grace_days"], int, "a hire within this many days of time "
                         "zero is the treatment", min=1, max=365)
    later_hires: str = _f(_DESIGN["later_hires"], str, "censor: versus never hired (IPCW); "
                          "keep; exclude", choices=LATER_HIRES)
    unit: str = _f(_DESIGN["unit"], str, "person: first candidature in the window; "
                   "person_month: sequential trials", choices=UNITS)
    comparison_classes: tuple | None = _f(_DESIGN["comparison_classes"], ("list", str),
                                          "refusal classes of the comparison group",
                                          choices=REFUSAL_CLASS_NAMES)
    horizons: tuple = _f(_DESIGN["horizons"], ("list", int), "months after time zero",
                         min=1, max=120)
    outcomes: tuple = _f(DEFAULT_OUTCOMES, ("list", str), "estimated by each method",
                         pattern=re.compile(r"^[a-z_]+_\d+m$"), hint="e.g. employed_12m")
    n_boot: int = _f(DEFAULT_N_BOOT, int, "bootstrap replicates (0: point estimates only)",
                     min=0, max=100_000)
    sensitivity_thresholds: tuple = _f(SENSITIVITY_THRESHOLDS, ("list", float),
                                       "re-estimate with links at these match thresholds",
                                       min=0.0, max=1.0)
    study_start: dt.date | None = _f(_DESIGN["study_start"], "date", "first day of the study "
                                     "window (default: the data's)", example='"2022-01-01"')
    study_end: dt.date | None = _f(_DESIGN["study_end"], "date", "last day of the study window",
                                   example='"2024-12-31"')
    eligible_only: bool = _f(_DESIGN["eligible_only"], bool, "keep only candidates with a "
                             "known eligibility diagnosis")
    unlinked: str = _f(_DESIGN["unlinked"], str, "candidates without a link: zero (no "
                       "employment found) or drop", choices=UNLINKED_POLICIES)
    follow_up_end: dt.date | None = _f(_DESIGN["follow_up_end"], "date", "last day the source "
                                       "covers (default: its last spell)",
                                       example='"2025-12-31"')


@dataclass(frozen=True)
class ReportSection:
    """``[report]``: how the report pages read (the quality report and the counterfactual
    page)."""

    language: str = _f(LANGUAGES[0], str, "labels and texts of the report pages",
                       choices=LANGUAGES)


@dataclass(frozen=True)
class OutputsConfig:
    """``[outputs]``: the output folder (one sub-folder per stage, and manifest.json)."""

    dir: Path = _f(Path("out/run"), "path", "one sub-folder per stage, manifest.json, run.log")


@dataclass(frozen=True)
class DeliverySection:
    """``[delivery]``: this run is one delivery of a series (see :mod:`appariement.deliveries`):
    its name, the delivery it follows, whether it retrains the model instead of reusing the
    frozen one."""

    name: str | None = _f(None, str, "outputs in <outputs.dir>/deliveries/<name>/ (or: run "
                          "--delivery NAME)", example='"2026T3"', pattern=DELIVERY_NAME,
                          hint=DELIVERY_HINT)
    previous: str | None = _f(None, str, "the delivery this one follows (default: the last one "
                              "completed)", example='"2026T2"', pattern=DELIVERY_NAME,
                              hint=DELIVERY_HINT)
    retrain: bool = _f(False, bool, "retrain the model (with a drift check) instead of reusing "
                       "the first delivery's frozen one")


_SECTIONS: dict[str, type] = {
    "project": ProjectConfig, "inputs": InputsConfig, "keys": KeysConfig, "pivot": PivotConfig,
    "identity": IdentityConfig, "linkage": LinkageSection, "backend": BackendConfig,
    "quality": QualityConfig, "counterfactual": CounterfactualSection, "report": ReportSection,
    "outputs": OutputsConfig, "delivery": DeliverySection,
}


@dataclass(frozen=True)
class Config:
    """A validated run configuration (every section with its defaults filled in).

    Attributes:
        base_dir: folder relative paths were resolved against (the config file's folder).
        path: the config file, when loaded from one.
    """

    project: ProjectConfig = field(default_factory=ProjectConfig)
    inputs: InputsConfig = field(default_factory=InputsConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    pivot: PivotConfig = field(default_factory=PivotConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    linkage: LinkageSection = field(default_factory=LinkageSection)
    backend: BackendConfig = field(default_factory=BackendConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    counterfactual: CounterfactualSection = field(default_factory=CounterfactualSection)
    report: ReportSection = field(default_factory=ReportSection)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    delivery: DeliverySection = field(default_factory=DeliverySection)
    base_dir: Path = field(default=Path("."), compare=False)
    path: Path | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content; paths relative to :attr:`base_dir` when below it (so the same
        project folder moved elsewhere keeps the same content and hash)."""
        return {name: _section_dict(getattr(self, name), self.base_dir) for name in _SECTIONS}

    def hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict` (``sha256:<hex>``)."""
        return _hash(self.to_dict())

    def with_profile(self, profile: str | list | tuple | None, *, option: str = "profile"
                     ) -> "Config":
        """This config with another ``[inputs] profile`` (a name, a list of names, or None),
        checked like the file's key (``option`` names the source of the value in errors)."""
        value = None if profile is None else _coerce_profile(
            option, [profile] if isinstance(profile, str) else list(profile))
        return dataclasses.replace(self, inputs=dataclasses.replace(self.inputs, profile=value))

    def section_hash(self, *names: str) -> str:
        """SHA-256 of some sections only (what one stage depends on)."""
        full = self.to_dict()
        return _hash({n: full[n] for n in names})

    def linkage_config(self, key_column: str | None):
        """The :class:`appariement.linkage.LinkageConfig` of ``[linkage]``/``[identity]``/
        ``[backend]``/``[project]``, linking exactly on ``key_column`` (None: traits only)."""
        from .linkage import LinkageConfig, Thresholds

        lk = self.linkage
        options: dict[str, Any] = dict(
            key_column=key_column if lk.exact_stage else None,
            trusted_consistency=tuple(self.identity.trusted_consistency),
            recheck_exact=lk.recheck_exact,
            thresholds=Thresholds(match=lk.match_threshold, review=lk.review_threshold),
            assignment=lk.assignment, comparison_budget=lk.comparison_budget,
            min_report_probability=lk.min_report_probability, backend=self.backend.engine,
            u_max_pairs=lk.u_max_pairs, em=lk.em, m_from_labels=lk.m_from_labels,
            seed=self.project.seed)
        if lk.blocking_rules is not None:
            options["blocking_rules"] = tuple(lk.blocking_rules)
        if lk.training_rules is not None:
            options["training_rules"] = tuple(lk.training_rules)
        return LinkageConfig(**options)

    def counterfactual_design(self):
        """The :class:`appariement.evaluation.counterfactual.CounterfactualDesign` of
        ``[counterfactual]`` (links kept: decision 'match')."""
        from .evaluation.counterfactual import CounterfactualDesign

        cf = self.counterfactual
        return CounterfactualDesign(
            grace_days=cf.grace_days, later_hires=cf.later_hires, unit=cf.unit,
            comparison_classes=None if cf.comparison_classes is None
            else tuple(cf.comparison_classes),
            horizons=tuple(cf.horizons), study_start=cf.study_start, study_end=cf.study_end,
            eligible_only=cf.eligible_only, unlinked=cf.unlinked,
            follow_up_end=cf.follow_up_end)


def _section_dict(section: Any, base: Path) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(section):
        out[f.name] = _json_value(getattr(section, f.name), base)
    return out


def _json_value(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        try:
            return value.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            return value.resolve().as_posix()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_value(v, base) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v, base) for k, v in sorted(value.items())}
    return value


def _hash(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------ loading

def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file.

    Args:
        path: the ``.toml`` file; relative paths inside it resolve against its folder.

    Returns:
        A validated :class:`Config`.

    Raises:
        ConfigError: missing or unreadable file, TOML syntax error, unknown key, wrong type,
            value out of range, inline key material (the message names the dotted key).

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
        >>> _ = p.write_text('[backend]\\nthreads = 2\\n', encoding="utf-8")
        >>> load_config(p).backend.threads
        2
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; `appariement init --out {path}` "
                          "writes a commented example")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return config_from_dict(data, base_dir=path.parent, path=path)


def config_from_dict(data: Mapping[str, Any], *, base_dir: str | Path = ".",
                     path: str | Path | None = None) -> Config:
    """Validate a config given as nested dicts (what :func:`load_config` parses from TOML).

    Args:
        data: ``{section: {key: value}}``.
        base_dir: folder relative paths resolve against.
        path: the file it came from (recorded only).

    Returns:
        A validated :class:`Config`.

    Raises:
        ConfigError: naming the dotted key and the allowed values.

    Examples:
        >>> config_from_dict({"backend": {"threads": 0}})
        Traceback (most recent call last):
        ...
        appariement.errors.ConfigError: backend.threads = 0 is out of range: must be >= 1 (and <= 1024)
    """
    base = Path(base_dir)
    if not isinstance(data, Mapping):
        raise ConfigError("the config must be a table of sections")
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"unknown section [{unknown[0]}]; allowed sections: "
                          f"{', '.join(_SECTIONS)}")
    sections = {}
    for name, cls in _SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{name} must be a table ([{name}]), got {type(raw).__name__}")
        sections[name] = _build_section(name, cls, raw, base)
    cfg = Config(**sections, base_dir=base, path=Path(path) if path else None)
    _check_consistency(cfg)
    return cfg


def _build_section(name: str, cls: type, raw: Mapping[str, Any], base: Path) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {name}.{unknown[0]}; allowed keys in [{name}]: "
                          f"{', '.join(fields)}")
    values = {}
    for key, value in raw.items():
        values[key] = _coerce(f"{name}.{key}", value, fields[key], base)
    return cls(**values)


def _type_name(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _coerce(key: str, value: Any, f: dataclasses.Field, base: Path) -> Any:
    meta = f.metadata
    optional = meta.get("optional", f.default is None)
    if value is None or (optional and value in ("", "none") and meta["kind"] != str):
        if optional:
            return None
        raise ConfigError(f"{key} must be set")
    return _coerce_kind(key, value, meta["kind"], meta, base)


def _coerce_kind(key: str, value: Any, kind: Any, meta: Mapping[str, Any], base: Path) -> Any:
    if isinstance(kind, tuple) and kind[0] == "list":
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be an array, e.g. [\"a\", \"b\"]; got "
                              f"{_type_name(value)}")
        return tuple(_coerce_kind(f"{key}[{i}]", v, kind[1], meta, base)
                     for i, v in enumerate(value))
    if isinstance(kind, tuple) and kind[0] == "map":
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a table {{name = value}}; got {_type_name(value)}")
        return {str(k): _coerce_kind(f"{key}.{k}", v, kind[1], meta, base)
                for k, v in value.items()}
    if kind == "mapping":
        return _coerce_mapping(key, value)
    if kind == "recode":
        return _coerce_recode(key, value)
    if kind == "profile":
        return _coerce_profile(key, value)
    if kind == "path":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key} must be a path (a non-empty string); got "
                              f"{_type_name(value)}")
        p = Path(value.strip())
        return p if p.is_absolute() else base / p
    if kind == "key":
        return _coerce_key(key, value, base)
    if kind == "date":
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise ConfigError(f"{key} must be a date YYYY-MM-DD; got {value!r}")
    if kind == "auto_bool":
        if isinstance(value, bool) or value == "auto":
            return value
        raise ConfigError(f"{key} must be true, false or \"auto\"; got {_type_name(value)} "
                          f"{value!r}")
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false; got {_type_name(value)}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer; got {_type_name(value)} {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number; got {_type_name(value)} {value!r}")
        value = float(value)
    elif kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string; got {_type_name(value)} {value!r}")
    _check_value(key, value, meta)
    return value


def _check_value(key: str, value: Any, meta: Mapping[str, Any]) -> None:
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key} = {value!r} is not allowed; allowed values: "
                          f"{', '.join(map(str, choices))}")
    lo, hi = meta.get("min"), meta.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = " and ".join(b for b in (f">= {lo}" if lo is not None else "",
                                          f"<= {hi}" if hi is not None else "") if b)
        if lo is not None and hi is not None:
            bounds = f">= {lo} (and <= {hi})"
        raise ConfigError(f"{key} = {value!r} is out of range: must be {bounds}")
    pattern = meta.get("pattern")
    if pattern is not None and not pattern.match(value):
        if _looks_like_key_material(value):
            # never echo it: a key pasted in the wrong place is still a key
            raise ConfigError(f"{key} is not allowed ({meta.get('hint', 'see the docs')}) and "
                              "looks like key material: it is not repeated here; treat it as "
                              "exposed and replace it")
        # nor any other refused free text: it may be a NIR or a name typed in the wrong place
        raise ConfigError(f"{key} is not allowed (the value, {len(value)} characters, is not "
                          f"repeated here): {meta.get('hint', pattern.pattern)}")


def _coerce_mapping(key: str, value: Any) -> dict:
    from .io import ALL_TABLES

    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a table of tables: [{key}.candidats] "
                          "user_column = \"canonical_column\"")
    out = {}
    for table, cols in value.items():
        if table not in ALL_TABLES:
            raise ConfigError(f"{key}.{table}: unknown table; allowed tables: "
                              f"{', '.join(ALL_TABLES)}")
        if not isinstance(cols, Mapping) or not all(isinstance(v, str) for v in cols.values()):
            raise ConfigError(f"{key}.{table} must map user column names to canonical column "
                              "names (strings)")
        out[table] = dict(cols)
    return out


def _coerce_recode(key: str, value: Any) -> dict:
    """``{table: {column: {label: code}}}``, checked as the loader will check it (contract
    table and column, a coded column's codes, no identifying column)."""
    from .io.profiles import check_recode

    example = f"[{key}.candidatures.etat] \"<label>\" = \"<code>\""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key} must be a table of tables: {example}")
    out: dict = {}
    for table, columns in value.items():
        if not isinstance(columns, Mapping) or not all(isinstance(c, Mapping)
                                                        for c in columns.values()):
            raise ConfigError(f"{key}.{table} must hold one table per column: {example}")
        for column, labels in columns.items():
            where = f"{key}.{table}.{column}"
            if not all(isinstance(v, str) for v in labels.values()):
                raise ConfigError(f"{where}: every label maps to a code (a string; \"\" for "
                                  "NULL)")
            check_recode(table, column, labels, where=where)
            out.setdefault(table, {})[column] = dict(labels)
    return out


def _coerce_profile(key: str, value: Any) -> tuple:
    """An import profile name, or a list of names of profiles covering different tables."""
    from .io.profiles import get_profile

    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{key} must be an import profile name or a list of names, e.g. "
                          "\"les_emplois_extract\" or [\"les_emplois_extract\", \"flux_iae\"]")
    try:
        get_profile(list(names))
    except ConfigError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return tuple(names)


_INLINE_KEY = re.compile(r"^[A-Za-z0-9+/_-]{40,}={0,2}$")


def _looks_like_key_material(text: str) -> bool:
    text = text.strip()
    return "-----" in text or "\n" in text or bool(_INLINE_KEY.match(text))


def check_options(values: Mapping[str, Any], options: Mapping[str, str] | None = None) -> None:
    """Check command-line option values by the rules of the config keys they stand for.

    The command line and the config file must refuse the same values with the same message:
    this builds the config sections from ``values`` (every other key at its default) and runs
    the same validation as :func:`config_from_dict`; the message names the option too.

    Args:
        values: dotted config key -> value given on the command line (e.g.
            ``{"quality.min_cell": 0}``).
        options: dotted config key -> option name (``{"quality.min_cell": "--min-cell"}``).

    Raises:
        ConfigError: naming the option, the config key and the allowed values.

    Examples:
        >>> check_options({"quality.min_cell": 0}, {"quality.min_cell": "--min-cell"})
        Traceback (most recent call last):
        ...
        appariement.errors.ConfigError: --min-cell (quality.min_cell) = 0 is out of range: must be >= 1
    """
    data: dict[str, dict[str, Any]] = {}
    for dotted, value in values.items():
        section, key = dotted.split(".", 1)
        data.setdefault(section, {})[key] = value
    try:
        config_from_dict(data)
    except ConfigError as exc:
        message = str(exc)
        for dotted, option in sorted((options or {}).items(), key=lambda kv: -len(kv[0])):
            message = re.sub(rf"(?<![\w.-]){re.escape(dotted)}((?:\[\d+\])?)(?![\w])",
                             lambda m, d=dotted, o=option: f"{o} ({d}{m.group(1)})", message)
        raise ConfigError(message) from None


def option_field(dotted: str) -> dataclasses.Field:
    """The field of a dotted config key (``"linkage.match_threshold"``)."""
    section, key = dotted.split(".", 1)
    for f in dataclasses.fields(_SECTIONS[section]):
        if f.name == key:
            return f
    raise KeyError(dotted)


def add_option(parser, flag: str, dotted: str, *, help: str | None = None, **kwargs: Any):
    """Add a command-line option standing for a config key: its default, allowed values,
    type and help come from the key's field, so the command line cannot drift from the file.

    List keys are comma-separated on the command line (their default too). Values are then
    checked by :func:`check_options`, with the config file's messages.

    Examples:
        >>> import argparse
        >>> p = argparse.ArgumentParser()
        >>> _ = add_option(p, "--assignment", "linkage.assignment")
        >>> p.parse_args([]).assignment
        'one_to_one'
    """
    f = option_field(dotted)
    meta = f.metadata
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    kind = meta["kind"]
    if isinstance(kind, tuple) and kind[0] == "list":
        kwargs.setdefault("default", None if default is None else ",".join(map(str, default)))
    else:
        kwargs.setdefault("default", default)
        if kind in (int, float):
            kwargs.setdefault("type", kind)
        if meta.get("choices") and kind is str:
            kwargs.setdefault("choices", meta["choices"])
    shown = kwargs["default"]
    text = help or meta.get("doc") or ""
    suffix = f"config key {dotted}" + ("" if shown is None else f"; default {shown}")
    kwargs["help"] = f"{text} ({suffix})".replace("%", "%%") if text else f"({suffix})"
    return parser.add_argument(flag, **kwargs)


def _coerce_key(key: str, value: Any, base: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} must be the path of a key file (or env:VARIABLE)")
    text = value.strip()
    # never echo the value: it may be key material pasted by mistake
    looks_inline = ("-----" in text or "\n" in text
                    or (_INLINE_KEY.match(text) and "." not in text
                        and not (base / text).exists()))
    if looks_inline:
        raise ConfigError(f"{key} looks like key material written inline; the config holds key "
                          "FILE paths only (create one with `appariement keygen --out FILE`) "
                          "or env:VARIABLE. Treat the pasted key as exposed and replace it.")
    if text.startswith("env:"):
        if not re.fullmatch(r"env:[A-Za-z_][A-Za-z0-9_]*", text):
            raise ConfigError(f"{key}: env: must be followed by a variable name")
        return text
    p = Path(text)
    return str(p if p.is_absolute() else base / p)


def _check_consistency(cfg: Config) -> None:
    lk = cfg.linkage
    if lk.review_threshold > lk.match_threshold:
        raise ConfigError(f"linkage.review_threshold ({lk.review_threshold}) must be <= "
                          f"linkage.match_threshold ({lk.match_threshold})")
    if lk.min_report_probability > lk.review_threshold:
        raise ConfigError("linkage.min_report_probability must be <= linkage.review_threshold")
    for name in ("blocking_rules", "training_rules"):
        rules = getattr(lk, name)
        if rules is None:
            continue
        from .blocking import FRENCH_RULES
        bad = [r for r in rules if r not in FRENCH_RULES]
        if bad:
            raise ConfigError(f"linkage.{name}: unknown rule {bad[0]!r}; allowed rules: "
                              f"{', '.join(FRENCH_RULES)}")
    mode = cfg.pivot.mode
    if mode == "pseudonymise" and not cfg.keys.pseudonym:
        raise ConfigError("pivot.mode = 'pseudonymise' needs keys.pseudonym (a secret key file "
                          "from `appariement keygen`)")
    if mode == "pivot" and not cfg.keys.pivot:
        raise ConfigError("pivot.mode = 'pivot' needs keys.pivot (the pivot's secret key file)")
    if bool(cfg.keys.pivot_exchange) != bool(cfg.keys.statistician):
        raise ConfigError("keys.pivot_exchange and keys.statistician go together (X25519 "
                          "private keys of the pivot and of the statistician); set both or "
                          "neither")
    dl = cfg.delivery
    if dl.previous is not None and dl.previous == dl.name:
        raise ConfigError(f"delivery.previous = {dl.previous!r} names this delivery itself; "
                          "give the delivery it follows, or leave it out (the last one "
                          "completed)")
    cf = cfg.counterfactual
    if cf.study_start and cf.study_end and cf.study_start > cf.study_end:
        raise ConfigError("counterfactual.study_start must be before counterfactual.study_end")
    horizons = set(cf.horizons)
    for outcome in cf.outcomes:
        h = int(outcome.rsplit("_", 1)[1][:-1])
        if h not in horizons:
            raise ConfigError(f"counterfactual.outcomes: {outcome!r} needs horizon {h} in "
                              f"counterfactual.horizons ({', '.join(map(str, cf.horizons))})")


# ------------------------------------------------------------------------------ example

_PREAMBLE = """\
# appariement run configuration (TOML). Run: appariement run THIS_FILE.toml
# Relative paths are relative to this file's folder. Every key is optional unless said.
# Written from the option classes of appariement/config.py (each key with its default and
# meaning); exit codes: appariement --help.
"""
_COMMENT_COLUMN = 26
#: keys shown with their value in the example even when unset (what a user edits first)
_EXAMPLE_SET = {"inputs.platform", "inputs.source"}


def _toml_value(value: Any) -> str:
    """A Python value as TOML text (the example config's values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(value.as_posix())
    if isinstance(value, dt.date):
        return json.dumps(value.isoformat())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _doc(f: dataclasses.Field) -> str:
    """A key's comment: its documentation, after its allowed values unless it names them."""
    doc = f.metadata.get("doc", "")
    choices = f.metadata.get("choices")
    if choices and f.metadata["kind"] is str and not all(
            re.search(rf"(?<![\w.]){re.escape(c)}(?![\w])", doc) for c in choices):
        listed = " | ".join(c if c.isidentifier() else json.dumps(c) for c in choices)
        doc = f"{listed}: {doc}" if doc else listed
    return doc


def _key_lines(line: str, doc: str) -> list[str]:
    """``line`` with ``doc`` as its comment: beside a short line, above a long one."""
    if not doc:
        return [line]
    if len(line) < _COMMENT_COLUMN - 1:
        wrapped = textwrap.wrap(doc, 96 - _COMMENT_COLUMN - 2)
        return ([f"{line.ljust(_COMMENT_COLUMN)}# {wrapped[0]}"]
                + [f"{'':<{_COMMENT_COLUMN}}# {more}" for more in wrapped[1:]])
    return [f"# {t}" for t in textwrap.wrap(doc, 94)] + [line]


def _section_lines(name: str, cls: type, values: Mapping[str, Any]) -> list[str]:
    summary = " ".join((cls.__doc__ or "").split("``:", 1)[-1].split())
    summary = re.sub(r":\w+:`~?([^`]*)`", r"\1", summary)
    lines = [*(f"# {t}" for t in textwrap.wrap(summary, 94)), f"[{name}]"]
    tables = []
    for f in dataclasses.fields(cls):
        dotted = f"{name}.{f.name}"
        value = values.get(dotted, getattr(cls, f.name, None) if f.default is not
                           dataclasses.MISSING else f.default_factory())
        doc, example = _doc(f), f.metadata.get("example")
        if f.metadata["kind"] == "profile" and value is None and dotted not in values:
            lines.append(_profile_text(None))
        elif f.metadata["kind"] == "profile":
            lines.append(_profile_text(value))
        elif f.metadata["kind"] in ("mapping", "recode") and not value:
            tables += [f"# {doc}"] + [f"# {t}" for t in example.splitlines()]
        elif value is None or (isinstance(value, dict) and not value):
            if dotted in _EXAMPLE_SET:
                lines += _key_lines(f"{f.name} = {example}", doc)
            else:
                lines += _key_lines(f"# {f.name} = {example}", doc)
        else:
            lines += _key_lines(f"{f.name} = {_toml_value(value)}", doc)
    return lines + tables


def example_config(*, name: str = "mon_projet", platform: str = "data/platform",
                   source: str = "data/source", out: str = "out/run", mode: str = "none",
                   keys: Mapping[str, str] | None = None, rejects: str = "raise",
                   n_boot: int = DEFAULT_N_BOOT, as_of: str | None = None,
                   outcomes: tuple = DEFAULT_OUTCOMES,
                   sensitivity_thresholds: tuple = SENSITIVITY_THRESHOLDS,
                   profile: str | list | tuple | None = None,
                   values: Mapping[str, Any] | None = None) -> str:
    """The commented example config (what ``appariement init`` writes).

    Written from the option classes of this module: every key of every section, with its
    default (or, for an unset key, a commented example) and its documentation, so the example
    cannot drift from what :func:`load_config` accepts.

    Args:
        name: project name.
        platform, source: input folders (relative to the config file).
        out: output folder.
        mode: ``[pivot].mode``.
        keys: ``{purpose: key file}`` for ``[keys]`` (None: commented placeholders).
        rejects: ``raise`` or ``set_aside``.
        n_boot: bootstrap replicates of the counterfactual estimates.
        as_of: reference date of the input checks (YYYY-MM-DD; None: today).
        outcomes, sensitivity_thresholds: ``[counterfactual]`` values.
        profile: ``[inputs].profile``, an import profile name or a list of names (None: the
            line is a comment); the tables it reads and what it cannot supply are listed.
        values: any other key, dotted (``{"project.seed": 7}``); checked as the file's keys.

    Returns:
        TOML text that :func:`load_config` accepts.

    Raises:
        ConfigError: a value the config file would refuse (naming its dotted key).

    Examples:
        >>> text = example_config(values={"project.seed": 7})
        >>> tomllib.loads(text)["pivot"]["mode"], load_config_text(text).project.seed
        ('none', 7)
    """
    given: dict[str, Any] = {
        "project.name": name, "inputs.platform": Path(platform), "inputs.source": Path(source),
        "outputs.dir": Path(out), "pivot.mode": mode, "inputs.rejects": rejects,
        "counterfactual.n_boot": n_boot, "counterfactual.outcomes": tuple(outcomes),
        "counterfactual.sensitivity_thresholds": tuple(sensitivity_thresholds),
        **{f"keys.{k}": v for k, v in (keys or {}).items()}}
    if as_of is not None:
        given["project.as_of"] = as_of
    if profile is not None:
        given["inputs.profile"] = [profile] if isinstance(profile, str) else list(profile)
    given.update(values or {})
    check_options({k: v.as_posix() if isinstance(v, Path) else
                   list(v) if isinstance(v, tuple) else v for k, v in given.items()})
    if profile is not None:
        given["inputs.profile"] = profile
    parts = [_PREAMBLE]
    for section, cls in _SECTIONS.items():
        parts.append("\n".join(_section_lines(section, cls, given)) + "\n")
    return "\n".join(parts)


def load_config_text(text: str, *, base_dir: str | Path = ".") -> Config:
    """Validate config TOML given as text (as :func:`load_config` does a file's)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config text is not valid TOML: {exc}") from None
    return config_from_dict(data, base_dir=base_dir)


_PROFILE_NONE = (
    '# profile = "les_emplois_extract"   # import profile of a real source (its table and column\n'
    '#                      names, its labels -> the contract\'s codes): {known};\n'
    '#                      a list combines profiles of different tables')


def _profile_text(profile: str | list | tuple | None) -> str:
    """The ``profile = ...`` line of the example config, and what the profile reads."""
    from .io.profiles import get_profile, list_profiles

    if profile is None:
        return _PROFILE_NONE.format(known=", ".join(list_profiles()))
    names = [profile] if isinstance(profile, str) else list(profile)
    prof = get_profile(names)  # unknown name -> ConfigError listing the known ones
    value = json.dumps(names[0] if len(names) == 1 else names, ensure_ascii=False)
    lines = [f"profile = {value}   # import profile {prof.label}: real names and labels"]
    for table, tp in sorted(prof.tables.items()):
        read = (" / ".join(tp.sources) if tp.sources
                else " + ".join(" / ".join(p.sources) for p in tp.parts))
        lines.append(f"#   {table}: read from {read}")
        if tp.cannot_supply:
            lines += textwrap.wrap(", ".join(tp.cannot_supply), 92,
                                   initial_indent="#     cannot supply: ",
                                   subsequent_indent="#       ")
    return "\n".join(lines)
