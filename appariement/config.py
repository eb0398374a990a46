"""The batch configuration: one TOML file drives every stage of :func:`appariement.pipeline.run_pipeline`.

The file is read with :mod:`tomllib` (standard library) into frozen dataclasses. Every key is
checked: an unknown key, a wrong type or a value out of range raises :class:`ConfigError` naming
the full dotted key (``linkage.match_threshold``) and the allowed values. Relative paths resolve
against the folder of the config file (``pathlib`` everywhere, so Windows paths work). Keys are
given as paths (or ``env:VARIABLE``), never inline: key material found in the file is refused.

Sections: ``[project]``, ``[inputs]``, ``[keys]``, ``[pivot]``, ``[identity]``, ``[linkage]``,
``[backend]``, ``[quality]``, ``[counterfactual]``, ``[outputs]``, ``[delivery]`` — see :data:`EXAMPLE_CONFIG`
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

from .errors import ConfigError

__all__ = [
    "Config", "ProjectConfig", "InputsConfig", "KeysConfig", "PivotConfig", "IdentityConfig",
    "LinkageSection", "BackendConfig", "QualityConfig", "CounterfactualSection", "OutputsConfig",
    "DeliverySection",
    "load_config", "config_from_dict", "example_config", "EXAMPLE_CONFIG", "PIVOT_MODES",
    "check_options",
]

PIVOT_MODES = ("none", "pseudonymise", "pivot")
_CONSISTENCY = ("consistent", "inconsistent", "unverifiable", "no_nir", "invalid")
_OBJECTIVES = ("max_f1", "max_recall_at_fdr", "max_precision_at_fnr")
_REFUSAL_CLASSES = ("employer_side", "person_side", "eligibility", "other", "unknown",
                    "not_refused")
_DELIVERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DELIVERY_HINT = "1-64 letters, digits, '_', '.', '-', not starting with '.', '_' or '-'"
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def _f(default: Any, kind: Any, **checks: Any) -> Any:
    """A dataclass field with its validation spec in the metadata.

    ``kind``: ``str``, ``int``, ``float``, ``bool``, ``"path"``, ``"date"``, ``"key"`` (a key
    path or ``env:NAME``), ``("list", kind)``, ``("map", kind)`` (string keys),
    ``"mapping"`` (``{table: {column: column}}``), ``"recode"`` (``{table: {column: {label:
    code}}}``), ``"profile"`` (an import profile name or a list of names, kept as a tuple),
    ``"auto_bool"`` (true, false or "auto"). ``checks``: ``choices``, ``min``, ``max``,
    ``pattern`` (with ``hint``), ``optional`` (None allowed; implied when the default is None).
    """
    meta = {"kind": kind, **checks}
    if isinstance(default, (list, dict, tuple)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ProjectConfig:
    """``[project]``: name (pseudonyms and pivot codes are derived per project), seed, as_of."""

    name: str = _f("appariement", str, pattern=re.compile(r"^[A-Za-z0-9_.-]{1,64}$"),
                   hint="1-64 letters, digits, '_', '.', '-'")
    seed: int = _f(42, int, min=0, max=2**32 - 1)
    as_of: dt.date | None = _f(None, "date")


@dataclass(frozen=True)
class InputsConfig:
    """``[inputs]``: where the platform extract and the source are, and how to read them."""

    platform: Path | None = _f(None, "path")
    source: Path | None = _f(None, "path")
    platform_files: dict = _f({}, ("map", "path"))
    source_files: dict = _f({}, ("map", "path"))
    mapping: dict = _f({}, "mapping")
    profile: tuple | None = _f(None, "profile")
    recode: dict = _f({}, "recode")
    encoding: str = _f("auto", str, choices=("auto", "utf-8", "latin-1"))
    sep: str = _f("auto", str, choices=("auto", ";", ",", "\t", "|"))
    rejects: str = _f("raise", str, choices=("raise", "set_aside"))
    on_mixed_encoding: str = _f("error", str, choices=("error", "warn"))
    on_nir_scientific: str = _f("error", str, choices=("error", "null"))

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
    """``[keys]``: key FILES (or ``env:VARIABLE``), never key material."""

    pseudonym: str | None = _f(None, "key")
    pivot: str | None = _f(None, "key")
    pivot_exchange: str | None = _f(None, "key")
    statistician: str | None = _f(None, "key")


@dataclass(frozen=True)
class PivotConfig:
    """``[pivot]``: protection of the exact-stage key (none, keyed pseudonym, pivot code)."""

    mode: str = _f("none", str, choices=PIVOT_MODES)
    codes_for_inconsistent: bool = _f(False, bool)
    probabilistic_traits: bool = _f(False, bool)


@dataclass(frozen=True)
class IdentityConfig:
    """``[identity]``: which NIR consistency statuses are trusted for an exact match; how
    two-digit birth years are read; extra first-name equivalences."""

    trusted_consistency: tuple = _f(("consistent", "unverifiable"), ("list", str),
                                    choices=_CONSISTENCY)
    year_pivot: int = _f(10, int, min=0, max=99)
    first_name_variants: Path | None = _f(None, "path")


@dataclass(frozen=True)
class LinkageSection:
    """``[linkage]``: maps onto :class:`appariement.linkage.LinkageConfig`."""

    exact_stage: bool = _f(True, bool)
    recheck_exact: bool = _f(True, bool)
    match_threshold: float = _f(0.9, float, min=0.0, max=1.0)
    review_threshold: float = _f(0.5, float, min=0.0, max=1.0)
    assignment: str = _f("one_to_one", str, choices=("one_to_one", "many_to_one"))
    blocking_rules: tuple | None = _f(None, ("list", str))
    training_rules: tuple | None = _f(None, ("list", str))
    comparison_budget: int = _f(200_000_000, int, min=1)
    min_report_probability: float = _f(0.01, float, min=0.0, max=1.0)
    u_max_pairs: float = _f(3e5, float, min=1e3)
    em: bool | str = _f("auto", "auto_bool")
    m_from_labels: bool = _f(True, bool)


@dataclass(frozen=True)
class BackendConfig:
    """``[backend]``: the SQL engine and its resources."""

    engine: str = _f("duckdb", str, choices=("duckdb", "spark"))
    database: str = _f(":memory:", str)
    memory_limit: str | None = _f(None, str, pattern=_MEMORY, hint="e.g. '16GB' or '512MB'")
    temp_dir: Path | None = _f(None, "path")
    threads: int | None = _f(None, int, min=1, max=1024)


@dataclass(frozen=True)
class QualityConfig:
    """``[quality]``: the quality report and its disclosure control."""

    enabled: bool = _f(True, bool)
    min_cell: int = _f(11, int, min=1)
    rounding: int | None = _f(None, int, min=1)
    objective: str = _f("max_f1", str, choices=_OBJECTIVES)
    target: float = _f(0.01, float, min=0.0, max=1.0)


@dataclass(frozen=True)
class CounterfactualSection:
    """``[counterfactual]``: the evaluation dataset design and the estimates."""

    enabled: bool = _f(True, bool)
    grace_days: int = _f(90, int, min=1, max=365)
    later_hires: str = _f("censor", str, choices=("keep", "censor", "exclude"))
    unit: str = _f("person", str, choices=("person", "person_month"))
    comparison_classes: tuple | None = _f(("employer_side",), ("list", str),
                                          choices=_REFUSAL_CLASSES)
    horizons: tuple = _f((6, 12, 24), ("list", int), min=1, max=120)
    study_start: dt.date | None = _f(None, "date")
    study_end: dt.date | None = _f(None, "date")
    eligible_only: bool = _f(False, bool)
    unlinked: str = _f("zero", str, choices=("zero", "drop"))
    follow_up_end: dt.date | None = _f(None, "date")
    outcomes: tuple = _f(("employed_6m", "employed_12m", "employed_24m", "durable_12m",
                          "months_employed_12m"), ("list", str),
                         pattern=re.compile(r"^[a-z_]+_\d+m$"), hint="e.g. employed_12m")
    n_boot: int = _f(200, int, min=0, max=100_000)
    sensitivity_thresholds: tuple = _f((0.5, 0.8, 0.9, 0.95, 0.99), ("list", float),
                                       min=0.0, max=1.0)


@dataclass(frozen=True)
class OutputsConfig:
    """``[outputs]``: the output folder (one sub-folder per stage, and manifest.json)."""

    dir: Path = _f(Path("out/run"), "path")


@dataclass(frozen=True)
class DeliverySection:
    """``[delivery]``: this run is one delivery of a series (see :mod:`appariement.deliveries`):
    its name, the delivery it follows (default: the last one completed), whether it retrains
    the model instead of reusing the frozen one."""

    name: str | None = _f(None, str, pattern=_DELIVERY_NAME, hint=_DELIVERY_HINT)
    previous: str | None = _f(None, str, pattern=_DELIVERY_NAME, hint=_DELIVERY_HINT)
    retrain: bool = _f(False, bool)


_SECTIONS: dict[str, type] = {
    "project": ProjectConfig, "inputs": InputsConfig, "keys": KeysConfig, "pivot": PivotConfig,
    "identity": IdentityConfig, "linkage": LinkageSection, "backend": BackendConfig,
    "quality": QualityConfig, "counterfactual": CounterfactualSection, "outputs": OutputsConfig,
    "delivery": DeliverySection,
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

EXAMPLE_CONFIG = '''\
# appariement run configuration (TOML). Run: appariement run THIS_FILE.toml
# Relative paths are relative to this file's folder. Every key is optional unless said.
# Documentation of each key: appariement/config.py; exit codes: appariement --help.

[project]
name = "{name}"        # pseudonyms and pivot codes are derived per project name
seed = 42                 # seeds every random step (model training, bootstrap)
{as_of}

[inputs]
platform = "{platform}"   # folder with candidats.parquet|csv, candidatures... (or platform/)
source = "{source}"       # folder with personnes, periodes_emploi
# platform_files = {{ candidats = "extract/cand_2025.csv" }}   # file per table (overrides)
# source_files = {{ personnes = "dares/personnes.parquet" }}
encoding = "auto"         # auto | utf-8 | latin-1 (CSV files)
sep = "auto"              # auto | ";" | "," | "\\t" | "|" (CSV files)
rejects = "{rejects}"      # raise: stop on bad rows | set_aside: write them to rejects.parquet
on_mixed_encoding = "error"   # a CSV mixing UTF-8 and other lines: error | warn (decode per line)
on_nir_scientific = "error"   # NIRs a spreadsheet wrote as 1.85E+14: error | null (read as missing)
{profile}
# [inputs.mapping.candidats]   # your column name = canonical name (applies on top of the profile)
# NIR_PERSONNE = "nir"
# [inputs.recode.candidatures.etat]   # your label = the contract's code ("" for NULL)
# "Candidature declinee" = "refused"

[keys]                    # key FILES only (appariement keygen), or "env:VARIABLE"; never keys
{keys}
[pivot]
mode = "{mode}"             # none: exact stage on the plain NIR (single-machine mode)
                          # pseudonymise: keyed pseudonym of the NIR (keys.pseudonym)
                          # pivot: pivot codes from the pivot authority (keys.pivot; with
                          #   keys.pivot_exchange + keys.statistician the files travel encrypted)
codes_for_inconsistent = false
probabilistic_traits = false  # pivot: rows without a usable NIR nor a unique exact-traits match
                          #   are linked to the reference by the traits model (traits_probable)

[identity]
trusted_consistency = ["consistent", "unverifiable"]   # NIR statuses trusted for exact links
year_pivot = 10           # two-digit birth years: 00-10 -> 2000-2010, 11-99 -> 1911-1999
# first_name_variants = "prenoms.csv"   # extra equivalent spellings (canonical,variant,group)

[linkage]
exact_stage = true        # false: traits-only linkage
match_threshold = 0.9     # match_probability >= this: match
review_threshold = 0.5    # >= this: review; below: non_match
assignment = "one_to_one" # one_to_one | many_to_one
comparison_budget = 200000000   # refuse to link if blocking generates more pairs
# blocking_rules = ["dob", "name_yob", "phon_first_phon"]   # names from appariement.blocking.FRENCH_RULES
recheck_exact = true
em = "auto"               # EM passes: "auto" (only without enough exact-key labels) | true | false

[backend]
engine = "duckdb"         # duckdb | spark
database = ":memory:"     # or a .duckdb file for data larger than memory
# memory_limit = "16GB"
# temp_dir = "tmp"        # where DuckDB spills (use an encrypted volume)
# threads = 4

[quality]
enabled = true
min_cell = 11             # smallest published count
# rounding = 5
objective = "max_f1"      # max_f1 | max_recall_at_fdr | max_precision_at_fnr
target = 0.01

[counterfactual]
enabled = true
grace_days = 90
later_hires = "censor"    # censor (vs never hired, IPCW) | keep | exclude
unit = "person"           # person | person_month
comparison_classes = ["employer_side"]
horizons = [6, 12, 24]
outcomes = {outcomes}   # estimated by naive, IPW and matching
n_boot = {n_boot}               # bootstrap replicates (0: point estimates only)
sensitivity_thresholds = {sens}   # re-estimate with links at these match thresholds

[outputs]
dir = "{out}"          # one sub-folder per stage, manifest.json, run.log

# [delivery]           # this run is one delivery of a series (quarterly extracts, README)
# name = "2026T3"      # outputs in <outputs.dir>/deliveries/<name>/ (or: run --delivery NAME)
# previous = "2026T2"  # the delivery it follows (default: the last one completed)
# retrain = false      # true: train a new model and write the drift check (or: --retrain)
'''

_KEYS_NONE = '''\
# pseudonym = "keys/project.key"       # pivot.mode = "pseudonymise"
# pivot = "keys/pivot.key"             # pivot.mode = "pivot"
# pivot_exchange = "keys/pivot_x25519.key"
# statistician = "keys/statistician_x25519.key"
'''


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


def example_config(*, name: str = "mon_projet", platform: str = "data/platform",
                   source: str = "data/source", out: str = "out/run", mode: str = "none",
                   keys: Mapping[str, str] | None = None, rejects: str = "raise",
                   n_boot: int = 200, as_of: str | None = None,
                   outcomes: tuple = ("employed_6m", "employed_12m", "employed_24m",
                                      "durable_12m", "months_employed_12m"),
                   sensitivity_thresholds: tuple = (0.5, 0.8, 0.9, 0.95, 0.99),
                   profile: str | list | tuple | None = None) -> str:
    """The commented example config (what ``appariement init`` writes).

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

    Returns:
        TOML text that :func:`load_config` accepts.

    Examples:
        >>> text = example_config()
        >>> tomllib.loads(text)["pivot"]["mode"]
        'none'
    """
    if mode not in PIVOT_MODES:
        raise ConfigError(f"mode = {mode!r} is not allowed; allowed values: "
                          f"{', '.join(PIVOT_MODES)}")
    keys_text = "".join(f'{k} = "{v}"\n' for k, v in (keys or {}).items()) or _KEYS_NONE
    as_of_text = (f'as_of = "{as_of}"       # reference date of the input date checks'
                  if as_of else '# as_of = "2026-01-01"    # reference date of the input date '
                                'checks (default: today)')
    return EXAMPLE_CONFIG.format(name=name, platform=platform, source=source, out=out,
                                 profile=_profile_text(profile), mode=mode, keys=keys_text, rejects=rejects, n_boot=n_boot,
                                 as_of=as_of_text, outcomes=json.dumps(list(outcomes)),
                                 sens=json.dumps(list(sensitivity_thresholds)))
