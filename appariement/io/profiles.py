"""Import profiles: named, versioned descriptions of a real source, mapped onto the contract.

The data contract (:mod:`appariement.io.contract`) is our own canonical form. The files a
statistician receives come from the platform's code and its data pipeline: French labels
("Candidature déclinée"), accented column names (``date_début``, ``état``), three ASP tables for
one person. A profile says, for one such source:

* which files hold which contract table (``candidats_v0`` -> ``candidats``), or how several
  files are joined into one (the ASP's ``fluxIAE_*`` tables -> ``flux_iae_salarie``);
* which column feeds which contract column, and how its **labels are recoded** into the
  contract's codes ("Candidature déclinée" -> ``refused``, "Prescripteur habilité" ->
  ``prescripteur``);
* which contract columns the source **cannot supply** (``candidats_v0`` has no names), which
  keys are **opaque pre-hashed** values, and which covariates were **measured at export time**.

Names of tables, columns and labels are compared after :func:`fold` (case, accents, typographic
apostrophes, spaces and hyphens ignored), so ``DATE_DEBUT``, ``date_début`` and ``Date début``
are one name. Profiles are data: ``appariement/io/profiles/<name>.toml``, each citing the files of
the public code it was read from.

A user mapping applies on top: ``mapping={table: {user_column: canonical_column}}`` replaces the
column a profile reads, and ``recode={table: {column: {label: code}}}`` adds or overrides labels
(an empty code means NULL). A label that neither knows is never given a silent code: the load
stops with :class:`UnknownLabelError`, which counts the rows of each unknown label (labels are
categories, not personal data; values of identifying columns are never recoded, nor named).

Examples:
    >>> fold("Date_Début"), fold("Candidature à l’étude")
    ('date_debut', "candidature_a_l'etude")
    >>> p = get_profile("les_emplois_warehouse")
    >>> p.name, "candidatures" in p.tables
    ('les_emplois_warehouse', True)
"""

from __future__ import annotations

import contextlib
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Mapping

import duckdb

from .._log import get_logger
from .._tables import quote_identifier as _quote, temp_view
from ..errors import ConfigError, InvalidValueError, SchemaError
from .contract import ALL_TABLES, OPAQUE_KEY_PATTERN, Column, TableSpec, table_spec
from .._tables import sql_literal
from .read import _raw_relation, _typed_expr

__all__ = ["ImportProfile", "TableProfile", "ColumnRule", "ProfileInfo", "PreparedInputs",
           "UnknownLabelError", "fold", "list_profiles", "get_profile", "find_profile_files",
           "prepare_inputs", "table_of", "source_slot", "check_recode"]

_log = get_logger(__name__)

_EXTENSIONS = (".parquet", ".pq", ".csv.gz", ".csv", ".tsv", ".txt")
#: more distinct values than this in a recoded column means it is not a column of labels
_MAX_LABELS = 10_000
_counter = iter(range(1, 1 << 62))


def fold(name: object) -> str:
    """The form names and labels are compared in: no accents, no case, ``_`` for spaces/hyphens.

    Typographic apostrophes become ``'`` ("l’étude" and "l'étude" are one label).

    Examples:
        >>> fold(" État "), fold("date-début"), fold("Prescripteur  habilité")
        ('etat', 'date_debut', 'prescripteur_habilite')
    """
    text = unicodedata.normalize("NFKD", str(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u02bc", "'")
    return re.sub(r"[\s\-]+", "_", text.casefold().strip())


class UnknownLabelError(InvalidValueError):
    """A recoded column holds labels that neither the profile nor the user's recode knows.

    Attributes:
        labels: ``{label: number of rows}`` of the unknown labels (categories, never values of
            an identifying column).
    """

    def __init__(self, message: str, *, labels: Mapping[str, int], **kw: Any):
        super().__init__(message, **kw)
        self.labels = dict(labels)


# ------------------------------------------------------------------------------ the profiles

@dataclass(frozen=True)
class ColumnRule:
    """How one contract column is read from a source.

    Attributes:
        target: contract column (canonical or extension, see ``TableSpec.extensions``).
        sources: source column names, in order of preference (the first present is read).
        recode: ``{label: code}``; ``None`` code means NULL. None: values are taken as they are.
        present, absent: instead of a recode, the code for a non-blank / blank source value.
        one_to_one: the recode is a bijection (two labels never share a code); checked.
    """

    target: str
    sources: tuple[str, ...]
    recode: Mapping[str, str | None] | None = None
    present: str | None = None
    absent: str | None = None
    one_to_one: bool = False

    @property
    def presence(self) -> bool:
        return self.present is not None or self.absent is not None


@dataclass(frozen=True)
class PartProfile:
    """One of several files joined into a table: its accepted names (``prefix``: file names may
    carry a suffix, as the ASP's dated ``fluxIAE_Salarie_29032021_090124.csv``)."""

    name: str
    sources: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class TableProfile:
    """How one contract table is obtained from a source (see the module docstring)."""

    table: str
    sources: tuple[str, ...]
    columns: tuple[ColumnRule, ...]
    cannot_supply: tuple[str, ...] = ()
    measured_at_export: tuple[str, ...] = ()
    opaque_keys: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    drop_containing: tuple[str, ...] = ()
    prefix: bool = False
    join: str | None = None
    parts: tuple[PartProfile, ...] = ()

    def rule(self, target: str) -> ColumnRule | None:
        for rule in self.columns:
            if rule.target == target:
                return rule
        return None


@dataclass(frozen=True)
class ImportProfile:
    """A named, versioned import profile (loaded from ``appariement/io/profiles/*.toml``)."""

    name: str
    version: str
    description: str
    based_on: str
    tables: dict[str, TableProfile]

    @property
    def label(self) -> str:
        """``name@version``, as written in the run manifest."""
        return f"{self.name}@{self.version}"


def list_profiles() -> list[str]:
    """Names of the profiles shipped with the library.

    Examples:
        >>> list_profiles()
        ['flux_iae', 'les_emplois_extract', 'les_emplois_warehouse']
    """
    folder = resources.files(__package__) / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def get_profile(name: str | ImportProfile | list | tuple) -> ImportProfile:
    """Load a shipped profile by name (an :class:`ImportProfile` is returned as is).

    A list of names combines profiles that cover different tables (a raw platform extract
    and the ASP's fluxIAE): the result is named ``a+b``, versioned ``va+vb``.

    Raises:
        ConfigError: unknown name (the message lists the known ones), a profile file that
            breaks the rules of :func:`_build_profile`, or combined profiles that both describe
            one table.

    Examples:
        >>> get_profile(["les_emplois_extract", "flux_iae"]).label
        'les_emplois_extract+flux_iae@1+1'
    """
    if isinstance(name, ImportProfile):
        return name
    if isinstance(name, (list, tuple)):
        return _combined([get_profile(n) for n in name])
    known = list_profiles()
    if name not in known:
        raise ConfigError(f"unknown import profile {name!r}; known profiles: {', '.join(known)}")
    text = (resources.files(__package__) / "profiles" / f"{name}.toml").read_text("utf-8")
    return _build_profile(tomllib.loads(text), where=f"profile {name!r}")


def _combined(profiles: list[ImportProfile]) -> ImportProfile:
    if not profiles:
        raise ConfigError("an empty list of import profiles; give at least one name")
    if len(profiles) == 1:
        return profiles[0]
    tables: dict[str, TableProfile] = {}
    for profile in profiles:
        for table, tp in profile.tables.items():
            if table in tables:
                raise ConfigError(f"import profiles {' and '.join(p.name for p in profiles)} "
                                  f"both describe table {table!r}; combine profiles of "
                                  "different tables only")
            tables[table] = tp
    return ImportProfile("+".join(p.name for p in profiles),
                         "+".join(p.version for p in profiles),
                         "; ".join(p.description for p in profiles),
                         "; ".join(p.based_on for p in profiles), tables)


def _as_tuple(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: expected a name or a list of names")


def _build_profile(data: Mapping[str, Any], *, where: str) -> ImportProfile:
    """An :class:`ImportProfile` from its TOML data, checked against the contract."""
    for key in ("name", "version", "tables"):
        if key not in data:
            raise ConfigError(f"{where}: missing key {key!r}")
    tables = {}
    for table, tdata in data["tables"].items():
        spec = table_spec(table)
        tw = f"{where}, table {table!r}"
        rules = tuple(_build_rule(spec, target, value, f"{tw}, column {target!r}")
                      for target, value in tdata.get("columns", {}).items())
        parts = tuple(PartProfile(pname, _as_tuple(p.get("sources"), f"{tw}, part {pname!r}"),
                                  bool(p.get("prefix", False)))
                      for pname, p in tdata.get("parts", {}).items())
        tp = TableProfile(
            table=table, sources=_as_tuple(tdata.get("sources"), tw), columns=rules,
            cannot_supply=_as_tuple(tdata.get("cannot_supply"), tw),
            measured_at_export=_as_tuple(tdata.get("measured_at_export"), tw),
            opaque_keys=_as_tuple(tdata.get("opaque_keys"), tw),
            drop=_as_tuple(tdata.get("drop"), tw),
            drop_containing=_as_tuple(tdata.get("drop_containing"), tw),
            prefix=bool(tdata.get("prefix", False)),
            join=tdata.get("join"), parts=parts)
        if tp.join is not None and tp.join not in _JOINS:
            raise ConfigError(f"{tw}: unknown join {tp.join!r}; known: {', '.join(_JOINS)}")
        if not tp.sources and tp.join is None:
            raise ConfigError(f"{tw}: give the source table name(s) or a join")
        names = {*spec.column_names, *spec.extension_names}
        for col in (*tp.cannot_supply, *tp.measured_at_export, *tp.opaque_keys):
            if col not in names:
                raise ConfigError(f"{tw}: {col!r} is not a column of the contract")
        both = sorted({r.target for r in rules} & set(tp.cannot_supply))
        if both:
            raise ConfigError(f"{tw}: {', '.join(both)} both supplied and not supplied")
        tables[table] = tp
    return ImportProfile(str(data["name"]), str(data["version"]), str(data.get("description", "")),
                         str(data.get("based_on", "")), tables)


def _build_rule(spec: TableSpec, target: str, value: Any, where: str) -> ColumnRule:
    try:
        column = spec.any_column(target)
    except KeyError:
        raise ConfigError(f"{where}: not a column of the contract table {spec.name!r}") from None
    if isinstance(value, (str, list)):
        return ColumnRule(target, _as_tuple(value, where))
    if not isinstance(value, Mapping) or "source" not in value:
        raise ConfigError(f"{where}: give a source column name, or a table with 'source'")
    recode = value.get("recode")
    if recode is not None:
        recode = {str(k): (None if v in ("", None) else str(v)) for k, v in recode.items()}
    rule = ColumnRule(target, _as_tuple(value["source"], where), recode,
                      value.get("present"), value.get("absent"), bool(value.get("one_to_one")))
    _check_recode(column, rule.recode or {}, rule.one_to_one, where)
    if rule.presence:
        _check_recode(column, {"present": rule.present, "absent": rule.absent}, False, where)
    return rule


def _check_recode(column: Column, recode: Mapping[str, str | None], one_to_one: bool,
                  where: str) -> None:
    """Codes must be the column's codes; labels distinct once folded; bijective if asked."""
    if recode and column.identifying:
        raise ConfigError(f"{where}: {column.name!r} is an identifying column; its values are "
                          "never recoded")
    folded: dict[str, str | None] = {}
    for label, code in recode.items():
        key = fold(label)
        if key in folded and folded[key] != code:
            raise ConfigError(f"{where}: labels that differ only by case or accents give "
                              f"different codes ({label!r})")
        folded[key] = code
        if code is None:
            continue
        if column.allowed and code not in column.allowed:
            raise ConfigError(f"{where}: {code!r} is not a code of {column.name!r}; codes are: "
                              f"{', '.join(column.allowed)}")
        if column.type == "BOOLEAN" and code not in ("true", "false"):
            raise ConfigError(f"{where}: a boolean column is recoded to 'true' or 'false'")
    if one_to_one:
        codes = [c for c in folded.values() if c is not None]
        if len(codes) != len(set(codes)):
            raise ConfigError(f"{where}: declared one_to_one but two labels share a code")


def check_recode(table: str, column: str, recode: Mapping[str, str | None], *,
                 where: str | None = None) -> None:
    """Check a user's recode of one contract column before any file is read.

    The rules are those the loader applies: a contract table and column (canonical or
    extension), codes of a coded column, ``true``/``false`` for a boolean one, labels distinct
    once folded, never an identifying column. ``""`` (or None) as a code means NULL.

    Raises:
        ConfigError: naming ``where`` (default ``recode for table T, column C``).

    Examples:
        >>> check_recode("candidatures", "etat", {"Candidature refusée": "refused"})
        >>> check_recode("candidatures", "etat", {"x": "rejected"})
        Traceback (most recent call last):
        ...
        appariement.errors.ConfigError: recode for table 'candidatures', column 'etat': 'rejected' is not a code of 'etat'; codes are: new, processing, postponed, prior_to_hire, accepted, refused, cancelled, obsolete, pool
    """
    where = where or f"recode for table {table!r}, column {column!r}"
    try:
        spec = table_spec(table)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    try:
        col = spec.any_column(column)
    except KeyError:
        raise ConfigError(f"{where}: {column!r} is not a column of the contract table "
                          f"{table!r}") from None
    if not isinstance(recode, Mapping):
        raise ConfigError(f"{where}: give a table of labels, \"<label>\" = \"<code>\"")
    codes = {str(k): (None if v in ("", None) else str(v)) for k, v in recode.items()}
    if col.identifying:
        raise ConfigError(f"{where}: {column!r} is an identifying column; its values are never "
                          "recoded")
    _check_recode(col, codes, False, where)


# ------------------------------------------------------------------------------ what was applied

@dataclass(frozen=True)
class ProfileInfo:
    """What a profile did on one load: goes into the run manifest (no data values).

    Attributes:
        name, version: the profile (``version`` changes whenever its mapping changes).
        based_on: the public code it was read from.
        sources: contract table -> names of the source tables read.
        not_supplied: contract table -> contract columns this source cannot supply.
        opaque_keys: contract table -> columns holding pre-hashed keys (exact equality only,
            no NIR or PASS checks).
        measured_at_export: contract table -> covariates measured when the file was exported.
        user_mapping, user_recode: contract table -> the user's overrides that were applied.
        absent: contract table -> contract columns (canonical and extension) that this load
            did not find, whether or not the profile could have supplied them.
    """

    name: str
    version: str
    based_on: str
    sources: dict[str, tuple[str, ...]]
    not_supplied: dict[str, tuple[str, ...]]
    opaque_keys: dict[str, tuple[str, ...]]
    measured_at_export: dict[str, tuple[str, ...]]
    user_mapping: dict[str, dict[str, str]] = field(default_factory=dict)
    user_recode: dict[str, tuple[str, ...]] = field(default_factory=dict)
    absent: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def as_manifest(self) -> dict:
        """A JSON-ready dict for the run manifest."""
        def lists(d):
            return {t: list(v) for t, v in sorted(d.items())}
        return {"name": self.name, "version": self.version, "based_on": self.based_on,
                "sources": lists(self.sources), "not_supplied": lists(self.not_supplied),
                "opaque_keys": lists(self.opaque_keys),
                "measured_at_export": lists(self.measured_at_export),
                "user_mapping": {t: dict(m) for t, m in sorted(self.user_mapping.items())},
                "user_recode": lists(self.user_recode), "absent": lists(self.absent)}


@dataclass
class PreparedInputs:
    """Sources rewritten in the contract's names and codes, ready for ``load_tables``.

    Attributes:
        sources: contract table -> relation (a temporary table) or the untouched source.
        mapping: the user mapping of the tables left untouched (the others consumed it).
        info: the :class:`ProfileInfo` (None without a profile).
        temp_tables: temporary tables to drop once loaded (:meth:`drop`).
    """

    sources: dict[str, Any]
    mapping: dict[str, dict[str, str]]
    info: ProfileInfo | None
    temp_tables: list[str] = field(default_factory=list)

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        for name in self.temp_tables:
            con.execute(f"DROP TABLE IF EXISTS {_quote(name)}")
        self.temp_tables.clear()


# ------------------------------------------------------------------------------ finding files

def _stem(path: Path) -> str | None:
    low = path.name.lower()
    for ext in _EXTENSIONS:
        if low.endswith(ext):
            return path.name[: -len(ext)]
    return None


def _matches(name: str, aliases: tuple[str, ...], prefix: bool) -> bool:
    key = fold(name)
    return any(key == fold(a) or (prefix and key.startswith(fold(a) + "_")) for a in aliases)


def _slots(profile: ImportProfile) -> list[tuple[str, str | None, tuple[str, ...], bool]]:
    """(table, part or None, accepted names, prefix) of every file a profile reads."""
    slots = []
    for table, tp in profile.tables.items():
        if tp.parts:
            slots += [(table, p.name, p.sources, p.prefix) for p in tp.parts]
        else:
            slots.append((table, None, tp.sources, tp.prefix))
    return slots


def _slot_of(profile: ImportProfile, name: str) -> tuple[str, str | None] | None:
    for table, part, aliases, prefix in _slots(profile):
        if _matches(name, aliases, prefix):
            return table, part
    return None


def find_profile_files(folder: str | Path, profile: str | ImportProfile, side: str = "all"
                       ) -> dict[str, Path]:
    """The files of a folder that a profile reads, plus contract tables it does not cover.

    Looks in ``folder``, ``folder/platform`` and ``folder/source``. A file belongs to a profile
    table when its name (without extension, folded) is one of the table's source names, or
    starts with one followed by ``_`` for dated files (``fluxIAE_Salarie_29032021.csv``).

    Returns:
        source name (file name without extension) -> path. Pass it to :func:`prepare_inputs`
        (or ``load_tables(..., profile=...)``).

    Raises:
        ConfigError: the folder does not exist, or two files hold the same table.
    """
    profile = get_profile(profile)
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"input folder {str(folder)!r} does not exist")
    found: dict[str, Path] = {}
    owner: dict[tuple[str, str | None], str] = {}
    for sub in (folder, folder / "platform", folder / "source"):
        if not sub.is_dir():
            continue
        for path in sorted(sub.iterdir()):
            stem = _stem(path)
            if stem is None or not path.is_file():
                continue
            slot = _slot_of(profile, stem)
            if slot is None and stem in ALL_TABLES:
                slot = (stem, None)
            if slot is None or not _side_ok(slot[0], side):
                continue
            if slot in owner:
                raise ConfigError(f"table {slot[0]!r} has two input files: {found[owner[slot]]} "
                                  f"and {path}; keep one")
            owner[slot] = stem
            found[stem] = path
    return found


def _side_ok(table: str, side: str | None) -> bool:
    return side in (None, "all") or ALL_TABLES[table].side == side


# ------------------------------------------------------------------------------ applying

def prepare_inputs(con: duckdb.DuckDBPyConnection, sources: Mapping[str, Any] | str | Path,
                   profile: str | ImportProfile | None = None, *,
                   mapping: Mapping[str, Mapping[str, str]] | None = None,
                   recode: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None,
                   side: str | None = None, encoding: str | None = None,
                   sep: str | None = None) -> PreparedInputs:
    """Rewrite sources in the contract's table names, column names and codes.

    Args:
        con: DuckDB connection; one temporary table is made per rewritten table.
        sources: a folder (see :func:`find_profile_files`) or ``{name: path | frame |
            relation}`` where ``name`` is a source table name of the profile (``candidats_v0``,
            ``fluxIAE_Salarie``) or a contract table name (left as it is unless ``recode``
            names it).
        profile: a profile name or object; None: only the user's ``recode`` is applied, to
            files already in the contract's names.
        mapping: ``{table: {user_column: canonical_column}}`` on top of the profile.
        recode: ``{table: {column: {label: code}}}`` on top of the profile (``""``: NULL).
        side, encoding, sep: as in :func:`~appariement.io.load_tables`.

    Returns:
        :class:`PreparedInputs` (its ``drop`` removes the temporary tables).

    Raises:
        ConfigError: unknown profile, table or column, a recode to a code the contract does not
            know, a source table given twice.
        SchemaError: a required column is absent, or the profile cannot supply it.
        UnknownLabelError: labels nobody knows (with the number of rows of each).
        InvalidValueError: a malformed pre-hashed key or an unconvertible value in a column
            only profiles supply (counts only).
    """
    prof = None if profile is None else get_profile(profile)
    mapping = {t: dict(m) for t, m in (mapping or {}).items()}
    recode = {t: {c: dict(m) for c, m in cols.items()} for t, cols in (recode or {}).items()}
    for table in (*mapping, *recode):
        table_spec(table)  # unknown table -> ConfigError
    if isinstance(sources, (str, Path)):
        if prof is not None:
            sources = find_profile_files(sources, prof, side or "all")
        else:
            from .load import find_table_files
            sources = find_table_files(sources, side or "all")
    groups, untouched = _group_sources(prof, sources, side)
    _check_required_tables(side, {*groups, *untouched})
    # a table in the contract's names with a user recode: rewritten without the profile
    plain = {t for t in untouched if t in recode}
    for table in sorted(plain):
        groups[table] = {None: (table, untouched.pop(table))}
    prepared = PreparedInputs(dict(untouched), {t: m for t, m in mapping.items()
                                                 if t in untouched}, None)
    used: dict[str, tuple[str, ...]] = {}
    absent: dict[str, tuple[str, ...]] = {}
    try:
        for table in sorted(groups):
            tp = prof.tables.get(table) if prof is not None and table not in plain else None
            temp, absent[table] = _prepare_table(con, table, tp, groups[table],
                                                 mapping.get(table, {}), recode.get(table, {}),
                                                 prof, encoding, sep)
            prepared.temp_tables.append(temp)
            prepared.sources[table] = con.table(temp)
            used[table] = tuple(sorted(name for name, _ in groups[table].values()))
    except BaseException:
        prepared.drop(con)
        raise
    used = {t: v for t, v in used.items() if t not in plain}
    if prof is not None:
        def per_table(attr):
            return {t: getattr(prof.tables[t], attr) for t in used
                    if getattr(prof.tables[t], attr)}
        prepared.info = ProfileInfo(
            prof.name, prof.version, prof.based_on, used, per_table("cannot_supply"),
            _opaque_columns(prof, used), per_table("measured_at_export"),
            {t: m for t, m in mapping.items() if t in used},
            {t: tuple(sorted(c)) for t, c in recode.items() if t in used},
            {t: absent[t] for t in used if absent[t]})
    return prepared


def _group_sources(prof: ImportProfile | None, sources: Mapping[str, Any], side: str | None
                   ) -> tuple[dict[str, dict[str | None, tuple[str, Any]]], dict[str, Any]]:
    """Sort the given sources into the profile's tables (by part) and contract-named tables.

    Returns:
        (``{table: {part or None: (source name, source)}}``, ``{table: source}`` untouched).
    """
    groups: dict[str, dict[str | None, tuple[str, Any]]] = {}
    untouched: dict[str, Any] = {}
    for name, source in sources.items():
        slot = _slot_of(prof, name) if prof is not None else None
        if slot is None:
            table_spec(name)  # neither a source name of the profile nor a contract table
            if _side_ok(name, side):
                untouched[name] = source
            continue
        table, part = slot
        if not _side_ok(table, side):
            continue
        if part in groups.setdefault(table, {}):
            raise ConfigError(f"table {table!r} is given twice: {groups[table][part][0]!r} and "
                              f"{name!r}; keep one")
        groups[table][part] = (name, source)
    for table in list(untouched):
        if table in groups:
            raise ConfigError(f"table {table!r} is given both under its contract name and as "
                              f"{', '.join(n for n, _ in groups[table].values())}")
    return groups, untouched


def _check_required_tables(side: str | None, present: set[str]) -> None:
    """Before anything is materialised: the non-optional tables of ``side`` are all there.

    (``load_tables`` checks it too, but only after the temporary tables exist.)
    """
    if side in (None, "all"):
        return
    absent = [t for t, spec in ALL_TABLES.items()
              if spec.side == side and not spec.optional and t not in present]
    if absent:
        raise SchemaError(f"required table(s) {', '.join(absent)} missing from the input "
                          f"(side {side!r}); found: {', '.join(sorted(present)) or 'none'}",
                          table=absent[0])


def table_of(profile: str | ImportProfile, name: str) -> str | None:
    """The contract table a source table name belongs to under a profile (None: not one).

    Examples:
        >>> table_of("les_emplois_warehouse", "Pass_Agrements"), table_of("flux_iae", "x")
        ('pass_agrements', None)
    """
    slot = _slot_of(get_profile(profile), name)
    return None if slot is None else slot[0]


def source_slot(profile: str | ImportProfile, name: str) -> tuple[str, str | None] | None:
    """(contract table, part or None) that a source table name fills under a profile.

    Examples:
        >>> source_slot("flux_iae", "fluxIAE_Structure_29032021_090124")
        ('flux_iae_salarie', 'structure')
    """
    return _slot_of(get_profile(profile), name)


def _opaque_columns(prof: ImportProfile, tables) -> dict[str, tuple[str, ...]]:
    out = {}
    for table in tables:
        spec, tp = table_spec(table), prof.tables[table]
        supplied = {r.target for r in tp.columns}
        cols = [c.name for c in (*spec.columns, *spec.extensions)
                if c.opaque_key and c.name in supplied]
        cols += [c for c in tp.opaque_keys if c not in cols]
        if cols:
            out[table] = tuple(cols)
    return out


@contextlib.contextmanager
def _opened(con, table: str, group: dict[str | None, tuple[str, Any]], encoding, sep
            ) -> Iterator[dict[str | None, str]]:
    """Open every source of a table as a temporary view: part -> view name."""
    with contextlib.ExitStack() as stack:
        views = {}
        for part, (_, source) in group.items():
            rel = stack.enter_context(_raw_relation(con, source, table, encoding, sep))
            view = f"_app_prof_src_{next(_counter)}"
            temp_view(rel, view)
            stack.callback(con.execute, f"DROP VIEW IF EXISTS {view}")
            views[part] = view
        yield views


def _by_fold(con, view: str, where: str) -> dict[str, tuple[str, str]]:
    """folded name -> (column name, type) of a view; two names folding alike are an error."""
    out: dict[str, tuple[str, str]] = {}
    rel = con.table(view)
    for name, typ in zip(rel.columns, rel.types):
        key = fold(name)
        if key in out:
            raise ConfigError(f"{where}: columns {out[key][0]!r} and {name!r} are the same name "
                              "once case and accents are ignored; rename one")
        out[key] = (name, str(typ))
    return out


def _prepare_table(con, table: str, tp: TableProfile | None,
                   group: dict[str | None, tuple[str, Any]], user_map: Mapping[str, str],
                   user_recode: Mapping[str, Mapping[str, str]], prof: ImportProfile | None,
                   encoding, sep) -> tuple[str, tuple[str, ...]]:
    """Materialise one contract table from its source(s).

    Returns:
        (temporary table name, contract columns not found).
    """
    spec = table_spec(table)
    who = f"profile {prof.name!r}" if prof is not None else "recode"
    where = f"{who}, table {table!r}"
    if tp is not None and tp.parts:
        missing = [p.name for p in tp.parts if p.name not in group]
        if missing:
            raise SchemaError(f"{where}: the source file(s) {', '.join(missing)} are missing "
                              f"(expected names: " + "; ".join(
                                  f"{p.name}: {' / '.join(p.sources)}" for p in tp.parts
                                  if p.name in missing) + ")", table=table)
    with _opened(con, table, group, encoding, sep) as views:
        if tp is not None and tp.join is not None:
            view = f"_app_prof_join_{next(_counter)}"
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS "
                        + _JOINS[tp.join](con, views, where))
        else:
            view = views[None]
        try:
            return _rewrite(con, spec, tp, view, user_map, user_recode, where)
        finally:
            if tp is not None and tp.join is not None:
                con.execute(f"DROP VIEW IF EXISTS {view}")


def _rewrite(con, spec: TableSpec, tp: TableProfile | None, view: str,
             user_map: Mapping[str, str], user_recode: Mapping[str, Mapping[str, str]],
             where: str) -> tuple[str, tuple[str, ...]]:
    columns = _by_fold(con, view, where)
    known = {c.name: c for c in (*spec.columns, *spec.extensions)}
    rules: dict[str, ColumnRule] = {r.target: r for r in (tp.columns if tp else ())}
    chosen: dict[str, tuple[str, str]] = {}  # target -> (source column, type)
    for target, rule in rules.items():
        hit = next((columns[fold(s)] for s in rule.sources if fold(s) in columns), None)
        if hit is not None:
            chosen[target] = hit
    ruled = set(chosen)  # targets read as the profile says (its recode applies to them)
    for user, target in user_map.items():
        if target not in known:
            raise ConfigError(f"mapping for table {spec.name!r}: {user!r} is mapped to "
                              f"{target!r}, which is not a column of the contract")
        hit = columns.get(fold(user))
        if hit is None:
            _log.warning("mapping for table %s: column %r not found in the input", spec.name, user)
            continue
        chosen[target] = hit
        ruled.add(target)  # the user's column replaces the profile's, in the same vocabulary
    # one source column may feed several targets ("origine": origine, prescripteur_habilite)
    not_supplied = set(tp.cannot_supply) if tp else set()
    for name in known:  # contract names present as such in the file
        if name not in chosen and fold(name) in columns:
            chosen[name] = columns[fold(name)]
    required = [c.name for c in spec.columns if not c.nullable or c.name in spec.key]
    absent = [c for c in required if c not in chosen]
    identity = spec.missing_identity(chosen) if not absent else None
    if identity is not None:
        cannot = [n for n in spec.names_or_key[0] if n in (tp.cannot_supply if tp else ())]
        raise SchemaError(
            f"{where}: {identity}"
            + (f"; this source cannot supply {', '.join(cannot)}" if cannot else ""),
            table=spec.name, column=spec.names_or_key[0][0])
    if absent:
        cannot = [c for c in absent if c in not_supplied]
        if cannot:
            raise SchemaError(
                f"{where}: the contract requires column(s) {', '.join(cannot)}, which this "
                "source cannot supply. Give them through another source or profile",
                table=spec.name, column=cannot[0])
        looked = "; ".join(f"{c}: {' / '.join(rules[c].sources)}" for c in absent if c in rules)
        raise SchemaError(
            f"{where}: required column(s) {', '.join(absent)} missing"
            + (f" (looked for {looked})" if looked else "")
            + f". Columns found: {', '.join(repr(n) for n, _ in list(columns.values())[:40])}. "
            f"Add a mapping {{'<your column>': '{absent[0]}'}} for table {spec.name!r}",
            table=spec.name, column=absent[0])
    for column in user_recode:
        if column not in known:
            raise ConfigError(f"recode for table {spec.name!r}: {column!r} is not a column of "
                              "the contract")
        if column not in chosen:
            _log.warning("recode for table %s: column %s is not in the input", spec.name, column)
    opaque = set(tp.opaque_keys) if tp else set()
    select = []
    for target in [*spec.column_names, *spec.extension_names]:
        if target not in chosen:
            continue
        src, src_type = chosen[target]
        rule = rules.get(target) if target in ruled else None
        expr = _column_sql(con, view, spec, known[target], src, src_type, rule,
                           user_recode.get(target), target in opaque, where)
        select.append(f"{expr} AS {_quote(target)}")
    consumed = {src for src, _ in chosen.values()}
    dropped = {fold(d) for d in (tp.drop if tp else ())}
    # as the pilotage pipeline does: any column whose name holds one of these is never kept
    dropped |= {key for key in columns
                if any(fold(word) in key for word in (tp.drop_containing if tp else ()))}
    taken = {fold(n) for n in known}
    for key, (name, _) in columns.items():
        if name in consumed or key in dropped:
            continue
        if key in taken:
            _log.info("%s: column %r not read (a contract column has that name)", where, name)
            continue
        select.append(_quote(name))
    temp = f"_app_prof_{spec.name}_{next(_counter)}"
    con.execute(f"CREATE TEMP TABLE {_quote(temp)} AS SELECT {', '.join(select)} FROM {view}")
    return temp, tuple(name for name in known if name not in chosen)


def _column_sql(con, view: str, spec: TableSpec, column: Column, src: str, src_type: str,
                rule: ColumnRule | None, user_recode: Mapping[str, str] | None, opaque: bool,
                where: str) -> str:
    """The SELECT expression giving ``column`` from source column ``src``, checked.

    Extension columns (``spec.extensions``) are converted to their type here, and their codes
    checked, since the reader only converts canonical columns. Pre-hashed keys are lowercased
    and must look like a SHA-256 hex digest.
    """
    raw = _quote(src)
    text = f"NULLIF(trim(CAST({raw} AS VARCHAR)), '')"
    recode = dict(rule.recode) if rule is not None and rule.recode is not None else None
    if user_recode:
        user = {str(k): (None if v in ("", None) else str(v)) for k, v in user_recode.items()}
        _check_recode(column, user, False, f"recode for {where}, column {column.name!r}")
        recode = {**(recode or {}), **user}
    is_extension = column.name not in spec.column_names
    if recode is None and column.allowed and is_extension:
        recode = {}  # extension codes are checked here: only the contract's codes pass
    if rule is not None and rule.presence:
        expr = (f"CASE WHEN {text} IS NULL THEN {sql_literal(rule.absent)} "
                f"ELSE {sql_literal(rule.present)} END")
        src_type = "VARCHAR"
    elif recode is not None:
        if column.identifying:
            raise ConfigError(f"{where}: {column.name!r} is an identifying column; its values "
                              "are never recoded")
        expr = _recode_sql(con, view, spec.name, column, text, recode, where)
        src_type = "VARCHAR"
    elif column.opaque_key or opaque:
        expr = f"lower({text})"
        _check_opaque(con, view, spec, column, expr, where)
        src_type = "VARCHAR"
    else:
        expr = raw
    if is_extension and column.type != "VARCHAR":
        expr = _typed_extension(con, view, spec, column, expr, src_type, where)
    return expr


def _check_opaque(con, view: str, spec: TableSpec, column: Column, expr: str,
                  where: str) -> None:
    """Pre-hashed keys must look like a SHA-256 hex digest (the values are never shown)."""
    bad = con.execute(f"SELECT count(*) FROM {view} WHERE {expr} IS NOT NULL AND NOT "
                      f"regexp_full_match({expr}, {sql_literal(OPAQUE_KEY_PATTERN)})"
                      ).fetchall()[0][0]
    if bad:
        raise InvalidValueError(
            f"{where}, column {column.name!r}: {bad} value(s) are not pre-hashed keys "
            "(64 hexadecimal characters, a SHA-256 digest). Check the column mapping",
            table=spec.name, column=column.name, n_rows=bad)


def _typed_extension(con, view: str, spec: TableSpec, column: Column, expr: str,
                     src_type: str, where: str) -> str:
    """Convert an extension column with the reader's rules; unconvertible values are counted."""
    typed, check = _typed_expr(column, f"({expr})", src_type)
    if check is not None:
        bad = con.execute(f"SELECT count(*) FROM {view} WHERE ({check}) IS NOT NULL AND "
                          f"({typed}) IS NULL").fetchall()[0][0]
        if bad:
            raise InvalidValueError(
                f"{where}, column {column.name!r}: {bad} value(s) cannot be converted to "
                f"{column.type}", table=spec.name, column=column.name, n_rows=bad)
    return typed


def _recode_sql(con, view: str, table: str, column: Column, text: str,
                recode: Mapping[str, str | None], where: str) -> str:
    """A CASE over the distinct labels found; unknown labels raise with their row counts."""
    folded = {fold(label): code for label, code in recode.items()}
    for code in column.allowed or ():
        folded.setdefault(fold(code), code)  # a value already in the contract's code passes
    rows = con.execute(f"SELECT {text} AS v, count(*) FROM {view} WHERE {text} IS NOT NULL "
                       f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {_MAX_LABELS + 1}").fetchall()
    if len(rows) > _MAX_LABELS:
        raise ConfigError(f"{where}, column {column.name!r}: more than {_MAX_LABELS} distinct "
                          "values: this is not a column of labels; check the mapping")
    unknown = {label: n for label, n in rows if fold(label) not in folded}
    if unknown:
        listed = "; ".join(f"{label!r}: {n} row(s)" for label, n in list(unknown.items())[:20])
        more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        raise UnknownLabelError(
            f"{where}, column {column.name!r}: {sum(unknown.values())} row(s) hold "
            f"{len(unknown)} label(s) that match no code: {listed}{more}. Add them to "
            f"the recode of the configuration ([inputs.recode.{table}.{column.name}] "
            "\"<label>\" = \"<code>\")",
            labels=unknown, table=table, column=column.name,
            n_rows=sum(unknown.values()))
    if not rows:
        return "CAST(NULL AS VARCHAR)"
    cases = " ".join(f"WHEN {sql_literal(label)} THEN {sql_literal(folded[fold(label)])}"
                     for label, _ in rows)
    return f"CASE {text} {cases} END"


# ------------------------------------------------------------------------------ joins

def _date_sql(x: str) -> str:
    t = f"NULLIF(trim(CAST({x} AS VARCHAR)), '')"
    return (f"COALESCE(TRY_CAST(CASE WHEN regexp_full_match({t}, '\\d{{4}}-\\d{{1,2}}-\\d{{1,2}}"
            f"([ T].*)?') THEN {t} END AS DATE), CAST(TRY_STRPTIME({t}, '%d/%m/%Y') AS DATE))")


def _need(con, view: str, names: tuple[str, ...], where: str, part: str,
          optional: tuple[str, ...] = ()) -> dict[str, str | None]:
    cols = _by_fold(con, view, f"{where}, {part}")
    out = {}
    for name in (*names, *optional):
        hit = cols.get(fold(name))
        if hit is None and name in names:
            raise SchemaError(f"{where}: column {name!r} missing from {part}", column=name)
        out[name] = None if hit is None else _quote(hit[0])
    return out


def _join_flux_iae(con, views: Mapping[str | None, str], where: str) -> str:
    """fluxIAE_Salarie + fluxIAE_ContratMission + fluxIAE_Structure, one row per salarié.

    Joins of pilotage-airflow's dbt models (``contrats_aci.sql``: ``contrat_id_pph =
    salarie_id``; ``recrutements.sql``: ``contrat_id_structure = structure_id_siae``).
    """
    s = _need(con, views["salarie"], ("salarie_id",), where, "salarie")
    c = _need(con, views["contrat"], ("contrat_id_pph", "contrat_id_structure",
                                      "contrat_date_embauche", "contrat_date_sortie_definitive"),
              where, "contrat", optional=("contrat_id_ctr",))
    st = _need(con, views["structure"], ("structure_id_siae", "structure_siret_actualise"),
               where, "structure")
    d0, d1 = _date_sql(c["contrat_date_embauche"]), _date_sql(c["contrat_date_sortie_definitive"])
    for raw, parsed in ((c["contrat_date_embauche"], d0), (c["contrat_date_sortie_definitive"], d1)):
        bad = con.execute(f"SELECT count(*) FROM {views['contrat']} WHERE NULLIF(trim(CAST("
                          f"{raw} AS VARCHAR)), '') IS NOT NULL AND {parsed} IS NULL"
                          ).fetchall()[0][0]
        if bad:
            raise InvalidValueError(f"{where}: {bad} contract date(s) in {raw} cannot be read "
                                    "(expected DD/MM/YYYY or YYYY-MM-DD)", n_rows=bad)
    ctr = f"CAST({c['contrat_id_ctr']} AS VARCHAR)" if c["contrat_id_ctr"] else "NULL"
    sal_cols = _by_fold(con, views["salarie"], where)
    clash = [n for k, (n, _) in sal_cols.items()
             if k in ("date_debut", "date_fin", "siret", "id_structure_asp")]
    exclude = f" EXCLUDE ({', '.join(_quote(n) for n in clash)})" if clash else ""
    return f"""
        WITH c AS (
            SELECT CAST({c['contrat_id_pph']} AS VARCHAR) AS pph,
                   CAST({c['contrat_id_structure']} AS VARCHAR) AS sid,
                   {d0} AS d0, {d1} AS d1, {ctr} AS ctr
            FROM {views['contrat']}),
        span AS (
            SELECT pph, min(d0) AS date_debut,
                   CASE WHEN bool_or(d1 IS NULL) THEN NULL ELSE max(d1) END AS date_fin
            FROM c GROUP BY pph),
        latest AS (
            SELECT pph, sid FROM (
                SELECT pph, sid, row_number() OVER (PARTITION BY pph
                    ORDER BY d0 DESC NULLS LAST, ctr DESC NULLS LAST, sid) AS r FROM c)
            WHERE r = 1),
        st AS (
            SELECT CAST({st['structure_id_siae']} AS VARCHAR) AS sid,
                   min(NULLIF(trim(CAST({st['structure_siret_actualise']} AS VARCHAR)), ''))
                       AS siret
            FROM {views['structure']} GROUP BY 1)
        SELECT s.*{exclude}, CAST(span.date_debut AS VARCHAR) AS date_debut,
               CAST(span.date_fin AS VARCHAR) AS date_fin, latest.sid AS id_structure_asp,
               st.siret AS siret
        FROM {views['salarie']} AS s
        LEFT JOIN span ON span.pph = CAST(s.{s['salarie_id']} AS VARCHAR)
        LEFT JOIN latest ON latest.pph = CAST(s.{s['salarie_id']} AS VARCHAR)
        LEFT JOIN st ON st.sid = latest.sid"""


_JOINS = {"flux_iae": _join_flux_iae}
