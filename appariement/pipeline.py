"""The end-to-end pipeline, as plain functions the CLI, the batch runner and notebooks share.

:func:`run_pipeline` runs the stages of a :class:`~appariement.config.Config` in order:

=================  ===========================================================================
``inputs``         read and check the platform extract and the source (data contract); counts
                   and set-aside rows (``rejects.parquet``)
``standardise``    standardised identity features of both sides (``features_*.parquet``); when
                   the exact key is protected (``[pivot].mode`` not ``none``) the plaintext NIR
                   column is emptied before anything is written — the NIR-consistency flags are
                   computed first and kept
``pivot``          ``pseudonymise``: keyed pseudonym of the NIR; ``pivot``: pivot codes from the
                   pivot authority (producer → pivot → statistician, through encrypted files when
                   the exchange keys are given); writes the features keyed by them
``link``           the cascade (exact key, then probabilistic); ``links.parquet`` ...
``report``         quality report (``report.html`` / ``report.json``, disclosure-controlled)
``counterfactual`` evaluation dataset, codebook and effect estimates
=================  ===========================================================================

Every stage writes into ``<outputs.dir>/.<stage>.partial/`` and, once all its files are written,
a ``_SUCCESS.json`` marker (fingerprint of what it depends on, SHA-256 of every output, counts);
then the folder is renamed to ``<outputs.dir>/<stage>/``. An interrupted run therefore leaves no
stage folder without its marker, only a ``.partial`` folder that the next run deletes. A re-run
skips a stage whose marker matches (same config section, same upstream outputs, same input
files) unless ``restart=True``.

What a run promises (checked by :func:`check_paths` before anything is written):

- it writes only ``<outputs.dir>/<stage>/``, ``<outputs.dir>/.<stage>.partial|.old/``,
  ``manifest.json`` and ``run.log``, and the outputs folder holds no input: an input (the
  config, an input folder or file, a key file, the first-name variants) inside the outputs
  folder, an outputs folder inside an input folder, the database or the temporary folder inside
  a path the run replaces, or a stage folder that appariement did not write (no valid marker) is
  refused (:class:`ConfigError`, exit 2);
- a stage reads an upstream stage's files only after checking them against the SHA-256
  recorded in its marker. A full run re-runs a stage whose files changed (with a warning); a
  ``--stage`` run refuses (:class:`InputError`, exit 3) and says which stage to re-run, so that a
  truncated or edited upstream file never yields a result that a later run would keep;
- every file it writes has mode 0600 and every folder it creates 0700 (POSIX).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import duckdb
import pyarrow.parquet as pq

from ._atomic import atomic_path, write_json, write_parquet
from ._log import get_logger, step
from ._paths import (check_output_dir, is_within, private_dir, refuse_inputs_in_outputs,
                     restrict_tree)
from ._progress import StageProgress
from ._tables import fresh_name, temp_table, temp_view
from .errors import ConfigError, InputError, KeyFileError
from .manifest import RunManifest, file_fingerprint

__all__ = ["Inputs", "STAGES", "load_inputs", "load_config_files", "quality_report",
           "standardise_both", "link_stage", "run_pipeline",
           "run_demo", "DEMO_OUTPUTS", "stage_dir", "check_paths", "owned_paths",
           "gzip_input_error", "GZIP_ERRORS", "input_table_of"]

log = get_logger(__name__)

#: the outputs folder of the demo's and ``init --synthetic``'s config (next to data/, keys/)
DEMO_OUTPUTS = "results"
#: the stages, in the order they run
STAGES = ("inputs", "standardise", "pivot", "link", "report", "counterfactual")
_MARKER = "_SUCCESS.json"
_UPSTREAM = {"standardise": ("inputs",), "pivot": ("standardise",), "link": ("pivot",),
             "report": ("link",), "counterfactual": ("inputs", "link")}
#: stage -> stages whose files it reads (verified against their markers before it runs)
_READS = {"standardise": (), "pivot": ("standardise",), "link": ("pivot",),
          "report": ("link", "pivot"), "counterfactual": ("link",)}
#: stages that read the input files themselves (not only the inputs stage's outputs)
_READS_INPUT_FILES = ("standardise", "pivot", "report", "counterfactual")
#: files the run writes at the top of the outputs folder
_RUN_FILES = ("manifest.json", "run.log", "manifest.export.json", "output_check.json",
              "output_check.md")
_SECTIONS = {"inputs": ("inputs", "project"), "standardise": ("pivot", "identity"),
             "pivot": ("pivot", "project"), "link": ("linkage", "identity", "project"),
             "report": ("quality", "report"),
             "counterfactual": ("counterfactual", "project", "report")}


@dataclass
class Inputs:
    """Input tables loaded on one DuckDB connection (``in_<table>`` tables)."""

    con: duckdb.DuckDBPyConnection
    tables: dict[str, duckdb.DuckDBPyRelation]
    counts: dict[str, Any]
    #: what the import profile did (:class:`~appariement.io.profiles.ProfileInfo`), or None
    profile: Any = None


def load_inputs(con: duckdb.DuckDBPyConnection, platform, source, *, mapping=None,
                rejects: str = "raise", rejects_dir: str | Path | None = None,
                as_of=None, encoding: str | None = None, sep: str | None = None,
                profile=None, recode=None, on_mixed_encoding: str = "error",
                on_nir_scientific: str = "error") -> Inputs:
    """Read and check the platform extract and the source (folders, files or frames).

    Args:
        con: DuckDB connection the tables are created on.
        platform: a folder (``<dir>/<table>.parquet|csv`` or ``<dir>/platform/...``) or
            ``{table: path_or_frame}``; with a ``profile``, the folder holds the real source's
            files (``candidats_v0.csv``...) and the dict may name them so.
        source: the same for the source tables.
        mapping: ``{table: {user_column: canonical_column}}`` (on top of the profile).
        rejects: ``"raise"`` (default) or ``"set_aside"``.
        rejects_dir: where ``rejects.parquet`` is written (None: not written).
        as_of: reference date of the date checks.
        encoding, sep: CSV options (None: detected per file).
        profile: an import profile name, a list of names or an
            :class:`~appariement.io.profiles.ImportProfile` (None: the contract's own names).
        recode: ``{table: {column: {label: code}}}`` (on top of the profile, or alone).
        on_mixed_encoding, on_nir_scientific: reader policies (see
            :func:`appariement.io.load_tables`).

    Returns:
        :class:`Inputs` (tables, counts per table, what the profile did).

    Examples:
        >>> # load_inputs(duckdb.connect(), "data/platform", "data/source")
        >>> # load_inputs(con, "extract/", "dares/", profile="les_emplois_extract")
    """
    from .io import load_tables

    merged: dict[str, Any] = {}
    for side, src in (("platform", platform), ("source", source)):
        merged.update(src if isinstance(src, dict) else _folder_files(src, side, profile))
    ds = load_tables(con, merged, mapping=mapping, rejects=rejects, rejects_dir=rejects_dir,
                     as_of=as_of, encoding=encoding, sep=sep, profile=profile, recode=recode,
                     on_mixed_encoding=on_mixed_encoding, on_nir_scientific=on_nir_scientific)
    return Inputs(con, dict(ds.tables), dict(ds.counts), ds.profile)


def _folder_files(folder, side: str, profile) -> dict[str, Path]:
    """The files of an input folder: contract names, or a profile's source names too."""
    from .io import find_table_files
    from .io.profiles import find_profile_files

    if profile is None:
        return find_table_files(folder, side=side)
    return find_profile_files(folder, profile, side=side)


def _input_slot(name: str, profile) -> tuple[str | None, str | None]:
    """(contract table, part of a joined table or None) an input name fills."""
    from .io.profiles import source_slot

    slot = source_slot(profile, name) if profile is not None else None
    return slot if slot is not None else (input_table_of(name, profile), None)


def input_table_of(name: str, profile=None) -> str | None:
    """The contract table an input file name stands for (a profile's source name, or the
    contract's own table name); None when it is neither."""
    from .io import ALL_TABLES
    from .io.profiles import table_of

    if profile is not None:
        table = table_of(profile, name)
        if table is not None:
            return table
    return name if name in ALL_TABLES else None


def standardise_both(con: duckdb.DuckDBPyConnection, candidats, personnes, **options
                     ) -> tuple[duckdb.DuckDBPyRelation, duckdb.DuckDBPyRelation]:
    """Standardised identity features of both sides, materialised as tables ``features_platform``
    and ``features_source`` (sorted by ``record_id``, so that files written from them are
    identical from one run to the next). ``options`` go to
    :func:`~appariement.identity.standardise_identities` (``year_pivot``,
    ``first_name_variants``).

    Examples:
        >>> # pf, sf = standardise_both(con, inputs.tables["candidats"], inputs.tables["personnes"])
    """
    from .identity import standardise_identities

    for side, table in (("platform", candidats), ("source", personnes)):
        standardise_identities(con, table, side, **options).order("record_id").to_table(
            f"features_{side}")
    return con.table("features_platform"), con.table("features_source")


def link_stage(con, platform_features, source_features, out_dir: str | Path, *, config=None,
               model=None, manifest: RunManifest | None = None):
    """Run the cascade and write its outputs to ``out_dir``.

    Returns:
        The :class:`~appariement.linkage.LinkageResult`.
    """
    from .linkage import Linkage, LinkageConfig

    config = config or LinkageConfig()
    result = Linkage(config, con=con, model=model).run(platform_features, source_features)
    written = result.write(out_dir)
    if manifest is not None:
        manifest.count("link", **result.counts)
        manifest.timings.update({f"link: {k}": v for k, v in result.timings.items()})
        manifest.outputs.update({f"link/{k}": v for k, v in written.items()})
        manifest.config["linkage"] = config.to_dict()
    return result


def stage_dir(config, stage: str) -> Path:
    """The folder of a completed stage's outputs (``<outputs.dir>/<stage>``)."""
    return Path(config.outputs.dir) / stage


# ------------------------------------------------------------------------------ run context

def _sha256_json(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_parquet(rel_or_table, path: Path) -> None:
    write_parquet(path, rel_or_table)


class _Run:
    """State shared by the stages of one run: config, connection, manifest, keys, inputs."""

    def __init__(self, config, manifest: RunManifest):
        from ._tables import connect

        self.cfg = config
        self.manifest = manifest
        self.out = Path(config.outputs.dir)
        backend = config.backend
        database = _database_path(config)
        _check_database(database)
        created = database is not None and not database.exists()
        try:
            self.con = connect(":memory:" if database is None else str(database),
                               threads=backend.threads, memory_limit=backend.memory_limit,
                               temp_directory=str(backend.temp_dir) if backend.temp_dir
                               else None)
        except duckdb.Error:
            # DuckDB's message may quote the file's first bytes: say what to do instead
            raise ConfigError(f"backend.database {database} could not be opened: it is not a "
                              "DuckDB database, or another process holds it; give a new file "
                              "name or close the other process") from None
        if created and os.name == "posix" and database.exists():
            os.chmod(database, 0o600)
        self._inputs: Inputs | None = None
        self._input_files: dict[str, Path] | None = None
        self._keys: dict[str, Any] = {}
        self._hashes: dict[tuple[str, int, int], str] = {}
        #: a delivery of a series (:class:`appariement.deliveries.DeliveryLink`), or None
        self.delivery = None

    # -- inputs ------------------------------------------------------------------------------
    def input_files(self) -> dict[str, Path]:
        """canonical table -> file, from the folders then the per-table overrides."""
        if self._input_files is None:
            self._input_files = self.find_input_files(self.cfg)
        return self._input_files

    @staticmethod
    def find_input_files(config) -> dict[str, Path]:
        """input name -> file of a config (reads folder listings only).

        The name is the contract table (``candidats``) or, with ``[inputs] profile``, the real
        source's name (``candidats_v0``, ``fluxIAE_Salarie_29032021``) that the profile reads.
        """
        ic = config.inputs
        profile = None if ic.profile is None else list(ic.profile)
        files: dict[str, Path] = {}
        for side, folder, extra in (("platform", ic.platform, ic.platform_files),
                                    ("source", ic.source, ic.source_files)):
            if folder is None and not extra:
                raise ConfigError(f"inputs.{side} (a folder) or inputs.{side}_files must "
                                  "be set")
            if folder is not None:
                files.update(_folder_files(folder, side, profile))
            for name, path in extra.items():
                if input_table_of(name, profile) is None:
                    what = "a table of the contract" + (
                        f" nor a source table of profile {'+'.join(profile)}" if profile else "")
                    raise ConfigError(f"inputs.{side}_files.{name}: {name!r} is neither {what}")
                if not Path(path).is_file():
                    raise ConfigError(f"inputs.{side}_files.{name}: file {path} does not "
                                      "exist")
                # a per-table file replaces the folder's file of the same table (or part)
                slot = _input_slot(name, profile)
                for other in [n for n in files if _input_slot(n, profile) == slot]:
                    del files[other]
                files[name] = Path(path)
        tables = {input_table_of(name, profile) for name in files}
        for needed in ("candidats", "personnes"):
            if needed not in tables:
                raise ConfigError(f"no {needed} table found in the inputs (inputs.platform "
                                  "/ inputs.source folders or *_files"
                                  + (f", under the names of profile {'+'.join(profile)}"
                                     if profile else "") + ")")
        return dict(sorted(files.items()))

    def inputs(self, rejects_dir: Path | None = None) -> Inputs:
        """The input tables, loaded and checked once per process."""
        if self._inputs is None:
            self._inputs = load_config_files(self.con, self.cfg, self.input_files(),
                                             rejects_dir)
            if self._inputs.profile is not None:
                # what the profile did on this load (columns absent, user overrides...)
                self.manifest.config["profile"] = {
                    "label": self._inputs.profile.label, **self._inputs.profile.as_manifest()}
        return self._inputs

    def hash_of(self, path: Path) -> str:
        """SHA-256 of a file, computed once per run for the same size and modification time."""
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in self._hashes:
            self._hashes[key] = file_fingerprint(path)
        return self._hashes[key]

    # -- keys --------------------------------------------------------------------------------
    def key(self, purpose: str, expect):
        """Load a key named in ``[keys]`` (path or env:VARIABLE); records its fingerprint."""
        if purpose not in self._keys:
            key = _load_config_key(self.cfg, purpose, expect)
            self._keys[purpose] = key
            self.manifest.keys[purpose] = key.fingerprint
        return self._keys[purpose]

    def required_keys(self) -> dict[str, str]:
        """Fingerprints of every key the configured mode needs (loads them: fails early)."""
        for purpose in _needed_keys(self.cfg):
            self.key(purpose, _key_kind(purpose))
        return {p: k.fingerprint for p, k in sorted(self._keys.items())}

    # -- stage folders -----------------------------------------------------------------------
    def marker(self, stage: str) -> dict | None:
        path = self.out / stage / _MARKER
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def fingerprint(self, stage: str) -> str:
        """What ``stage`` depends on: its config sections, keys, input files, upstream outputs."""
        parts: dict[str, Any] = {"stage": stage,
                                 "config": self.cfg.section_hash(*_SECTIONS[stage])}
        if stage == "inputs":
            parts["files"] = {t: self.hash_of(p) for t, p in self.input_files().items()}
            # a new version of a profile reads the same files differently
            parts["profile"] = _profile_label(self.cfg)
            # the PASS join report it writes is disclosure-controlled at quality.min_cell
            parts["min_cell"] = self.cfg.quality.min_cell
        if stage == "pivot":
            parts["keys"] = self.required_keys()
        if stage == "link":
            parts["engine"] = self.cfg.backend.engine
            if self.delivery is not None:
                parts["delivery"] = self.delivery.fingerprint()
        for up in _UPSTREAM.get(stage, ()):
            m = self.marker(up)
            if m is None:
                raise ConfigError(f"stage {stage!r} needs the outputs of stage {up!r}, which "
                                  f"are missing or incomplete in {self.out}; run the whole "
                                  "pipeline (without --stage) first")
            parts[up] = {"fingerprint": m["fingerprint"], "outputs": m["outputs"]}
        return _sha256_json(parts)

    def changed_outputs(self, stage: str, marker: dict | None = None) -> list[str]:
        """Files of a completed stage that are missing or differ from the SHA-256 recorded in
        its marker (empty: the stage's files are exactly what it wrote)."""
        marker = marker if marker is not None else self.marker(stage)
        if marker is None:
            return ["_SUCCESS.json"]
        folder = self.out / stage
        outputs = marker.get("outputs")
        if not isinstance(outputs, dict):
            return ["_SUCCESS.json"]
        return [name for name, digest in sorted(outputs.items())
                if not (folder / name).is_file() or self.hash_of(folder / name) != digest]

    def verify_reads(self, stage: str, *, explicit: bool) -> None:
        """Check the files ``stage`` is about to read against their recorded SHA-256.

        Raises:
            InputError: an upstream stage's file changed since it was written, or (``--stage``
                runs) the input files changed since the inputs stage ran.
        """
        for up in _READS.get(stage, ()):
            changed = self.changed_outputs(up)
            if changed:
                raise InputError(
                    f"stage {stage!r} reads the outputs of stage {up!r}, but "
                    f"{len(changed)} of its files in {self.out / up} differ from the SHA-256 "
                    f"recorded when it completed (first: {changed[0]}): modified, truncated "
                    f"or deleted since. Re-run that stage: appariement run CONFIG --stage {up} "
                    "(or the whole pipeline, which re-runs it)", table=up)
        if explicit and stage in _READS_INPUT_FILES:
            m = self.marker("inputs")
            if m is not None and m.get("fingerprint") != self.fingerprint("inputs"):
                raise InputError(
                    f"stage {stage!r} reads the input files, which (or whose [inputs] settings) "
                    "changed since stage 'inputs' ran: its result would not match the earlier "
                    "stages. Re-run the whole pipeline (without --stage)", table="inputs")

    def is_complete(self, stage: str, fingerprint: str) -> bool:
        m = self.marker(stage)
        if m is None or m.get("fingerprint") != fingerprint:
            return False
        changed = self.changed_outputs(stage, m)
        if changed:
            log.warning("stage %s: %d of its files differ from the SHA-256 recorded when it "
                        "completed (first: %s); running it again", stage, len(changed),
                        changed[0], extra={"stage": stage, "event": "changed"})
            return False
        return True

    def partial_dir(self, stage: str) -> Path:
        path = self.out / f".{stage}.partial"
        if path.exists():
            shutil.rmtree(path)
        return private_dir(path)

    def commit(self, stage: str, partial: Path, fingerprint: str, counts: dict) -> None:
        """Write the marker, then swap the partial folder into place."""
        outputs = {p.relative_to(partial).as_posix(): file_fingerprint(p)
                   for p in sorted(partial.rglob("*")) if p.is_file()}
        write_json(partial / _MARKER, {"stage": stage, "fingerprint": fingerprint,
                                        "outputs": outputs, "counts": counts})
        restrict_tree(partial)  # whichever writer made them: 0600 files, 0700 folders
        final = self.out / stage
        if (final.exists() or final.is_symlink()) and not _is_ours(final):
            # checked before the run started; a folder that appeared since is not ours either
            raise ConfigError(_foreign_stage_folder(final))
        if final.exists():
            old = self.out / f".{stage}.old"
            if old.exists():
                shutil.rmtree(old)
            os.replace(final, old)
            os.replace(partial, final)
            shutil.rmtree(old)
        else:
            os.replace(partial, final)

    def features(self, stage: str) -> tuple[duckdb.DuckDBPyRelation, duckdb.DuckDBPyRelation]:
        folder = self.out / stage
        return (self.con.read_parquet(str(folder / "features_platform.parquet")),
                self.con.read_parquet(str(folder / "features_source.parquet")))


def _needed_keys(config) -> list[str]:
    """The ``[keys]`` entries the configured ``[pivot] mode`` uses, in the order they load."""
    mode = config.pivot.mode
    if mode == "pseudonymise":
        return ["pseudonym"]
    if mode == "pivot":
        return ["pivot", *(("pivot_exchange", "statistician") if config.keys.pivot_exchange
                           else ())]
    return []


def _key_kind(purpose: str):
    """The key class a ``[keys]`` entry holds (a secret key, or an exchange private key)."""
    from .crypto import PrivateKey, SecretKey

    return SecretKey if purpose in ("pseudonym", "pivot") else PrivateKey


def _load_config_key(config, purpose: str, expect):
    """Load the key of ``[keys] purpose`` (a key file, or ``env:VARIABLE``)."""
    from .crypto import load_key

    ref = getattr(config.keys, purpose)
    if not ref:
        raise ConfigError(f"keys.{purpose} must be set for pivot.mode = "
                          f"{config.pivot.mode!r}")
    if ref.startswith("env:"):
        return load_key(env=ref[4:], expect=expect)
    return load_key(ref, expect=expect)


def _check_key_files(config) -> None:
    """Every key the mode needs is there and usable, before anything is written (run.log
    included): a missing folder is named as a folder, with the ``[keys]`` entry that names it;
    a key that cannot be used (permissions, format, kind) fails as it would when loaded."""
    for purpose in _needed_keys(config):
        ref = getattr(config.keys, purpose)
        if not ref or ref.startswith("env:"):
            if ref:
                _load_config_key(config, purpose, _key_kind(purpose))
            continue  # an unset entry is a ConfigError of load_config
        role, path = f"keys.{purpose}", Path(ref)
        folder = path.parent
        if not folder.exists():
            raise KeyFileError(f"{role}: folder {folder} (the folder of its key file) does not "
                               f"exist; create it and the key with `appariement keygen --out "
                               f"{path}`, or correct {role}")
        if not folder.is_dir():
            raise KeyFileError(f"{role}: {folder} (the folder of its key file) is a file, not "
                               f"a folder; correct {role}")
        if path.is_dir():
            raise KeyFileError(f"{role}: {path} is a folder, not a key file; give the key "
                               "file itself")
        if not path.exists():
            raise KeyFileError(f"{role}: key file {path} does not exist; create one with "
                               f"`appariement keygen --out {path}`, or correct {role}")
        _load_config_key(config, purpose, _key_kind(purpose))


def _database_path(config) -> Path | None:
    """The ``[backend] database`` file (None: in memory)."""
    database = config.backend.database
    if database == ":memory:":
        return None
    path = Path(database)
    return path if path.is_absolute() else Path(config.base_dir) / path


def _check_database(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir():
        raise ConfigError(f"backend.database {path} is a folder; give a file name (e.g. "
                          "work.duckdb)")
    if not path.parent.is_dir():
        what = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise ConfigError(f"backend.database {path}: its folder {path.parent} {what}; create "
                          "the folder or give another path")
    target = path if path.exists() else path.parent
    if not os.access(target, os.W_OK):
        raise ConfigError(f"backend.database {path} cannot be written: {target} is read-only "
                          "for this user")
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as fh:
            header = fh.read(12)
        if header[8:12] != b"DUCK":  # DuckDB's magic bytes, after an 8-byte checksum
            raise ConfigError(f"backend.database {path} exists and is not a DuckDB database; "
                              "give a new file name (it is created) or the right file")


#: what a corrupt or truncated gzip file raises while it is read
GZIP_ERRORS = (zlib.error, EOFError, gzip.BadGzipFile)


def gzip_input_error(files: dict[str, Path], exc: BaseException, *,
                     tables: bool = True) -> InputError:
    """An :class:`InputError` naming the corrupt ``.gz`` input (found by decompressing each one;
    only done after a failure). The decompressor's own message is not repeated.

    Args:
        files: table (or, with ``tables=False``, the option naming it) -> file.
        exc: what reading raised.
    """
    for table, path in files.items():
        if not str(path).lower().endswith(".gz"):
            continue
        try:
            with gzip.open(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except (zlib.error, EOFError, gzip.BadGzipFile, OSError):
            where = f"table {table!r}" if tables else table
            return InputError(f"{where}: {Path(path).name} is not a valid gzip file or is "
                              "truncated (decompression failed); export or copy it again",
                              table=table if tables else None)
    return InputError(f"an input file could not be decompressed ({type(exc).__name__}); check "
                      "the .gz files among the inputs")


def _is_ours(folder: Path) -> bool:
    """A stage folder appariement wrote: a real folder holding a marker file (a marker that no
    longer parses still says the folder is ours; its stage is then simply re-run)."""
    return folder.is_dir() and not folder.is_symlink() and (folder / _MARKER).is_file()


def _foreign_stage_folder(folder: Path) -> str:
    return (f"{folder} exists but was not written by appariement (no {_MARKER}); a run "
            "replaces that folder, so it refuses to touch it: move it out of outputs.dir (or, "
            "if it is an old output of this project, delete it)")


def owned_paths(config) -> dict[Path, str]:
    """Every path a run writes or replaces, with what it is: ``<outputs.dir>/<stage>`` and its
    ``.partial`` / ``.old`` siblings, ``manifest.json``, ``run.log``."""
    out = Path(config.outputs.dir)
    owned: dict[Path, str] = {}
    for stage in STAGES:
        for name in (stage, f".{stage}.partial", f".{stage}.old"):
            owned[out / name] = f"the folder of stage {stage!r}"
    for name in _RUN_FILES:
        owned[out / name] = f"the run's {name}"
    return owned


def _input_paths(config, input_files: dict[str, Path]) -> dict[str, Path]:
    """role -> path of everything a run reads: the config, the input folders and files, the
    key files, the first-name variants (none of them may lie inside the outputs folder)."""
    ic, paths = config.inputs, {}
    if config.path is not None:
        paths["the config file"] = Path(config.path)
    for side in ("platform", "source"):
        folder = getattr(ic, side)
        if folder is not None:
            paths[f"inputs.{side}"] = Path(folder)
    for table, path in input_files.items():
        paths[f"the {table} input file"] = Path(path)
    for purpose in ("pseudonym", "pivot", "pivot_exchange", "statistician"):
        ref = getattr(config.keys, purpose)
        if ref and not ref.startswith("env:"):
            paths[f"keys.{purpose}"] = Path(ref)
    if config.identity.first_name_variants is not None:
        paths["identity.first_name_variants"] = Path(config.identity.first_name_variants)
    return paths


def _protected_paths(config, input_files: dict[str, Path]) -> dict[str, Path]:
    """role -> path of everything a run reads or uses and must never delete or overwrite: the
    inputs, and the database and temporary folder (which may sit in the outputs folder, but
    not in a path the run replaces)."""
    paths = _input_paths(config, input_files)
    database = _database_path(config)
    if database is not None:
        paths["backend.database"] = database
    if config.backend.temp_dir is not None:
        paths["backend.temp_dir"] = Path(config.backend.temp_dir)
    return paths


def check_paths(config, stages=None, input_files: dict[str, Path] | None = None) -> None:
    """Check, before anything is written, that a run can only write where it owns.

    Args:
        config: a validated :class:`~appariement.config.Config`.
        stages: the stages about to run (None: every enabled stage).
        input_files: canonical table -> file (None: found from ``[inputs]``).

    Raises:
        ConfigError: the outputs folder is a file, read-only, inside an input folder or holds
            an input (the config, an input folder or file, a key file, the first-name
            variants); the database or the temporary folder lies inside a path the run
            replaces; a stage folder to be replaced was not written by appariement.
        KeyFileError: a key file the mode needs, or its folder, is missing.
    """
    out = Path(config.outputs.dir)
    check_output_dir(out, "outputs.dir")
    _check_database(_database_path(config))
    if input_files is None:
        input_files = _Run.find_input_files(config)
    refuse_inputs_in_outputs(out, "outputs.dir", _input_paths(config, input_files))
    owned = owned_paths(config)
    for role, path in _protected_paths(config, input_files).items():
        for target, what in owned.items():
            if is_within(path, target):
                raise ConfigError(f"{role} ({path}) lies inside {target}, {what}, which a run "
                                  "replaces or deletes: move it out of there or choose "
                                  "another outputs.dir")
    for stage in _selected(config, stages):
        folder = out / stage
        if (folder.exists() or folder.is_symlink()) and not _is_ours(folder):
            raise ConfigError(_foreign_stage_folder(folder))
    for name in _RUN_FILES:
        if (out / name).is_dir():
            raise ConfigError(f"{out / name} is a folder; the run writes its {name} there: "
                              "move that folder away")
    _check_key_files(config)


def load_config_files(con, config, files: dict[str, Path], rejects_dir: Path | None = None
                      ) -> Inputs:
    """Load the ``[inputs]`` files (``table -> path``, see ``_Run.find_input_files``) with the
    config's options; a corrupt ``.gz`` is an :class:`InputError` naming its file."""
    try:
        return _load_files(con, {t: str(f) for t, f in files.items()}, config.inputs,
                           config.project.as_of, rejects_dir)
    except GZIP_ERRORS as exc:
        raise gzip_input_error(files, exc) from None


def _load_files(con, files: dict[str, str], ic, as_of, rejects_dir) -> Inputs:
    from .io import load_tables

    ds = load_tables(con, files, rejects_dir=rejects_dir, as_of=as_of, **ic.load_options())
    return Inputs(con, dict(ds.tables), dict(ds.counts), ds.profile)


def _profile_label(config) -> str | None:
    """``name@version`` of the config's import profile (None without one)."""
    from .io.profiles import get_profile

    profile = config.inputs.profile
    return None if profile is None else get_profile(list(profile)).label


def _profile_entry(config) -> dict | None:
    """The manifest's profile entry before anything is read (name, version, origin)."""
    from .io.profiles import get_profile

    if config.inputs.profile is None:
        return None
    prof = get_profile(list(config.inputs.profile))
    return {"label": prof.label, "name": prof.name, "version": prof.version,
            "based_on": prof.based_on}



# ------------------------------------------------------------------------------ the stages

def _stage_inputs(run: _Run, out: Path) -> dict:
    inputs = run.inputs(rejects_dir=out if run.cfg.inputs.rejects == "set_aside" else None)
    write_json(out / "input_counts.json", inputs.counts)
    counts = {t: c for t, c in inputs.counts.items()}
    if "pass_agrements" in inputs.tables and "flux_iae_salarie" in inputs.tables:
        from .io.pass_join import pass_join_report

        # the PASS IAE join (approvals <-> fluxIAE), disclosure-controlled like the report
        report = pass_join_report(run.con, inputs.tables["pass_agrements"],
                                  inputs.tables["flux_iae_salarie"],
                                  min_cell=run.cfg.quality.min_cell)
        write_json(out / "pass_join.json", report)
    return counts


def _stage_standardise(run: _Run, out: Path) -> dict:
    inputs = run.inputs()
    ident = run.cfg.identity
    pf, sf = standardise_both(run.con, inputs.tables["candidats"], inputs.tables["personnes"],
                              year_pivot=ident.year_pivot,
                              first_name_variants=ident.first_name_variants)
    counts = {}
    for side, rel in (("platform", pf), ("source", sf)):
        if run.cfg.pivot.mode != "none":
            # the protected modes never write a plaintext NIR: the flags computed from it stay.
            # Nor its salted hash (hash_nir): one global salt, about 10^11 plausible NIRs, so
            # it is as good as the NIR to whoever holds the salt
            rel = rel.project(", ".join(f'NULL::VARCHAR AS "{c}"' if c in ("nir", "hash_nir")
                                        else f'"{c}"' for c in rel.columns))
        _write_parquet(rel, out / f"features_{side}.parquet")
        counts[side] = int(rel.count("*").fetchall()[0][0])
    return counts


def _protected_keys(run: _Run, out: Path) -> tuple[Any, Any]:
    """(platform codes, source codes) as Arrow tables ``row_id, code [, quality]``."""
    import pyarrow as pa

    from ._tables import to_arrow
    from .crypto import SecretKey

    inputs = run.inputs()
    cand = to_arrow(inputs.tables["candidats"])
    pers = to_arrow(inputs.tables["personnes"])
    project = run.cfg.project.name
    if run.cfg.pivot.mode == "pseudonymise":
        from .crypto import Pseudonymiser

        p = Pseudonymiser(run.key("pseudonym", SecretKey), project=project)
        out = []
        for table, id_col in ((cand, "candidat_id"), (pers, "person_id")):
            out.append(pa.table({"row_id": table.column(id_col).cast(pa.string()),
                                 "code": p.pseudonymise(table.column("nir")),
                                 "quality": pa.nulls(table.num_rows, pa.string())}))
        return out[0], out[1]
    return _pivot_protocol(run, cand, pers, project, out / "exchange")


def _pivot_protocol(run: _Run, cand, pers, project: str, folder: Path):
    """Producer → pivot → statistician, through encrypted files when exchange keys are set."""
    import pyarrow as pa

    from .crypto import (PivotAuthority, PrivateKey, SecretKey, encrypt_identities,
                         encrypt_pivot_codes, read_identities, read_pivot_codes)

    pivot_key = run.key("pivot", SecretKey)
    exchange = bool(run.cfg.keys.pivot_exchange)
    if exchange:
        pivot_x = run.key("pivot_exchange", PrivateKey)
        stat_x = run.key("statistician", PrivateKey)
        folder.mkdir(parents=True, exist_ok=True)
        # producers: identity columns only, encrypted for the pivot
        encrypt_identities(cand, folder / "platform.ids.enc", pivot_x.public_key(),
                           project=project, side="platform")
        encrypt_identities(pers, folder / "source.ids.enc", pivot_x.public_key(),
                           project=project, side="source")
        cand = read_identities(folder / "platform.ids.enc", pivot_x, project=project,
                               side="platform")
        pers = read_identities(folder / "source.ids.enc", pivot_x, project=project,
                               side="source")
    matcher = None
    if run.cfg.pivot.probabilistic_traits:
        from .linkage import traits_matcher
        # the library's defaults (the pivot stage does not depend on [linkage]: a changed
        # linkage threshold must not re-run the pivot)
        matcher = traits_matcher()
    # the warehouse's candidates carry only the producers' hash_nir: both sides are coded from
    # their hashes (the source also carries NIRs, whose codes would never join the hashes')
    by_hash = _keyed_on_hash(run.con.from_arrow(cand), run.con.from_arrow(pers))
    authority = PivotAuthority(pivot_key, project=project, reference=pers,
                               codes_for_inconsistent=run.cfg.pivot.codes_for_inconsistent,
                               matcher=matcher, con=run.con,
                               trusted_consistency=run.cfg.identity.trusted_consistency,
                               hash_nir="prefer" if by_hash else "fallback")
    codes = []
    for side, table in (("platform", cand), ("source", pers)):
        result = authority.transcode(table, side=side)
        if exchange:
            path = folder / f"{side}.codes.enc"
            encrypt_pivot_codes(result, path, stat_x.public_key(), project=project, side=side)
            # the statistician's view: no identity
            result = read_pivot_codes(path, stat_x, project=project, side=side)
        codes.append(pa.table({"row_id": result.column("row_id"),
                               "code": result.column("pivot_code"),
                               "quality": result.column("quality")}))
    return codes[0], codes[1]


def _stage_pivot(run: _Run, out: Path) -> dict:
    mode = run.cfg.pivot.mode
    pf, sf = run.features("standardise")
    if mode == "none":
        counts = {}
        for side, rel in (("platform", pf), ("source", sf)):
            _write_parquet(rel, out / f"features_{side}.parquet")
            counts[side] = int(rel.count("*").fetchall()[0][0])
        return {"mode": mode, **counts}
    codes = _protected_keys(run, out)
    counts: dict[str, Any] = {"mode": mode}
    for side, rel, table in (("platform", pf, codes[0]), ("source", sf, codes[1])):
        view = f"_app_codes_{side}"
        run.con.register(view, table)
        if mode == "pivot":
            # the pivot checked the NIR against the traits (nir_exact) or found the person by
            # exact traits (traits_exact): both are trusted keys for the exact stage; a
            # re-keyed hash_nir (opaque_key) is a shared key nobody could check (unverifiable)
            valid = ("c.code IS NOT NULL AND c.quality IN ('nir_exact', 'traits_exact', "
                     "'opaque_key')")
            consistency = ("CASE WHEN c.quality = 'traits_exact' THEN 'consistent' "
                           "WHEN c.quality = 'nir_exact' THEN f.nir_consistency "
                           "WHEN c.quality = 'opaque_key' THEN 'unverifiable' "
                           "ELSE 'no_nir' END")
        else:
            valid, consistency = "c.code IS NOT NULL AND f.nir_valid", "f.nir_consistency"
        cols = []
        for c in rel.columns:
            if c == "nir":
                cols.append("c.code AS nir")
            elif c == "nir_valid":
                cols.append(f"coalesce({valid}, FALSE) AS nir_valid")
            elif c == "nir_consistency":
                cols.append(f"{consistency} AS nir_consistency")
            else:
                cols.append(f'f."{c}"')
        temp_view(rel, f"_app_feat_{side}")
        joined = run.con.sql(f"SELECT {', '.join(cols)} FROM _app_feat_{side} f "
                             f"LEFT JOIN {view} c ON c.row_id = f.record_id ORDER BY f.record_id")
        _write_parquet(joined, out / f"features_{side}.parquet")
        counts[f"{side}_with_code"] = table.num_rows - table.column("code").null_count
        if mode == "pivot":
            q = run.con.sql(f"SELECT quality, count(*) FROM {view} GROUP BY 1 ORDER BY 1")
            counts[f"{side}_quality"] = {k: int(v) for k, v in q.fetchall()}
        run.con.unregister(view)
    return counts


def _keyed_on_hash(pf, sf) -> bool:
    """The platform carries no NIR but both sides carry the producers' pre-hashed
    ``hash_nir`` (the warehouse's ``candidats_v0``): relations, raw or standardised."""
    def filled(rel, column: str) -> bool:
        return column in rel.columns and bool(
            rel.aggregate(f'count("{column}")').fetchall()[0][0])
    return not filled(pf, "nir") and filled(pf, "hash_nir") and filled(sf, "hash_nir")


def _link_key(pf, sf) -> str:
    """The exact stage's key: the NIR (or the pivot's code in its place), or the producers'
    pre-hashed ``hash_nir`` when the platform carries no NIR (:func:`_keyed_on_hash`)."""
    if _keyed_on_hash(pf, sf):
        log.info("exact stage on hash_nir: the platform carries no NIR")
        return "hash_nir"
    return "nir"


def _stage_link(run: _Run, out: Path) -> dict:
    from .linkage import Linkage

    if run.delivery is not None:  # one delivery of a series (appariement.deliveries)
        return run.delivery.link_stage(run, out)
    pf, sf = run.features("pivot")
    config = run.cfg.linkage_config(_link_key(pf, sf))
    result = Linkage(config, con=run.con).run(pf, sf)
    result.write(out)
    run.manifest.timings.update({f"link: {k}": v for k, v in result.timings.items()})
    return dict(result.counts)


def quality_report(con, links, features_platform, tables, quality, *, counts, model,
                   thresholds, features_source=None, language: str = "fr"):
    """The quality report of ``links`` with the ``[quality]`` options (``quality``): subgroups
    from the platform's features and tables, the disclosure policy, the threshold objective."""
    from .evaluation import DisclosurePolicy, build_report, subgroup_covariates

    cov = subgroup_covariates(con, features_platform,
                              candidatures=tables.get("candidatures"),
                              organisations=tables.get("organisations"),
                              structures=tables.get("structures"),
                              candidats=tables["candidats"])
    cov_name = fresh_name("report_cov")
    temp_table(cov.order("candidat_id"), cov_name)
    return build_report(links, con.table(cov_name), counts=counts, model=model,
                        thresholds=thresholds,
                        policy=DisclosurePolicy(threshold=quality.min_cell,
                                                rounding=quality.rounding),
                        con=con, objective=quality.objective, target=quality.target,
                        features={"platform": features_platform, "source": features_source},
                        language=language)


def _stage_report(run: _Run, out: Path) -> dict:
    from .linkage import LinkageModel

    q = run.cfg.quality
    link_dir = run.out / "link"
    meta = json.loads((link_dir / "linkage_counts.json").read_text(encoding="utf-8"))
    th = meta.get("config", {}).get("thresholds", {})
    model_path = link_dir / "model.json"
    model = LinkageModel.load(model_path) if model_path.exists() else None
    pf, sf = run.features("pivot")
    report = quality_report(run.con, run.con.read_parquet(str(link_dir / "links.parquet")), pf,
                            run.inputs().tables, q, counts=meta.get("counts", {}), model=model,
                            thresholds=(th.get("match", 0.9), th.get("review", 0.5)),
                            features_source=sf, language=run.cfg.report.language)
    report.write(out)
    figures = report.figures
    return {"sections": sorted(figures)}


def _stage_counterfactual(run: _Run, out: Path) -> dict:
    from .evaluation.counterfactual.report import run_counterfactual

    cf = run.cfg.counterfactual
    inputs = run.inputs()
    platform = {t: r for t, r in inputs.tables.items()
                if t in ("candidats", "candidatures", "structures", "organisations",
                         "diagnostics")}
    result = run_counterfactual(platform, inputs.tables["periodes_emploi"],
                                str(run.out / "link" / "links.parquet"), out,
                                design=run.cfg.counterfactual_design(),
                                outcomes=tuple(cf.outcomes), n_boot=cf.n_boot,
                                seed=run.cfg.project.seed,
                                thresholds=tuple(cf.sensitivity_thresholds),
                                min_cell=run.cfg.quality.min_cell, con=run.con,
                                language=run.cfg.report.language)
    return {"arms": {r["arm"]: r["n"] for r in result.get("arms_and_linkage", [])},
            "estimates": len(result.get("estimates", []))}


_STAGE_FUNCTIONS: dict[str, Callable[[_Run, Path], dict]] = {
    "inputs": _stage_inputs, "standardise": _stage_standardise, "pivot": _stage_pivot,
    "link": _stage_link, "report": _stage_report, "counterfactual": _stage_counterfactual,
}


# ------------------------------------------------------------------------------ entry points

def _selected(config, stages) -> list[str]:
    enabled = [s for s in STAGES
               if not (s == "report" and not config.quality.enabled)
               and not (s == "counterfactual" and not config.counterfactual.enabled)]
    if stages is None:
        return enabled
    if isinstance(stages, str):
        stages = [stages]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise ConfigError(f"unknown stage {bad[0]!r}; stages: {', '.join(STAGES)}")
    return [s for s in STAGES if s in stages]


def run_pipeline(config, stages=None, *, dry_run: bool = False, restart: bool = False,
                 progress: bool | None = None, command: str = "run",
                 delivery=None) -> RunManifest:
    """Run the stages of a configuration, resuming completed ones.

    Args:
        config: a :class:`~appariement.config.Config` or the path of a TOML file.
        stages: None (every enabled stage), a stage name or a list of names (run even when up
            to date; earlier stages' outputs are read from disk).
        dry_run: validate the config, the keys and the inputs, standardise and analyse blocking
            (pairs per rule against ``linkage.comparison_budget``); write nothing.
        restart: re-run stages even when their outputs are up to date.
        progress: one progress line per stage on stderr (None: only on a terminal).
        command: recorded in the manifest.
        delivery: the link stage of one delivery of a series (used by
            :func:`appariement.deliveries.run_delivery`; None: a plain run).

    Returns:
        The :class:`RunManifest` (also written to ``<outputs.dir>/manifest.json``, except in a
        dry run, whose manifest carries the blocking table in ``counts["blocking"]``).

    Raises:
        ConfigError (exit 2), InputError (3), CryptoError (4), LinkageError (5) ...

    Examples:
        >>> # manifest = run_pipeline("projet.toml")
        >>> # run_pipeline("projet.toml", stages="link")
    """
    from .config import Config, load_config

    if not isinstance(config, Config):
        config = load_config(config)
    selected = _selected(config, stages)
    manifest = RunManifest(command=command)
    manifest.config = {"hash": config.hash(), "file": str(config.path) if config.path else None,
                       "resolved": config.to_dict()}
    if config.inputs.profile is not None:
        manifest.config["profile"] = _profile_entry(config)
    manifest.seeds = {"project": config.project.seed, "linkage": config.project.seed,
                      "bootstrap": config.project.seed}
    input_files = _Run.find_input_files(config)
    check_paths(config, selected, input_files)  # before anything, the database included, is written
    run = _Run(config, manifest)
    run.delivery = delivery
    try:
        if dry_run:
            return _dry_run(run)
        for table, path in run.input_files().items():
            manifest.add_input(table, path)
        run.required_keys()
        private_dir(run.out)
        for stage in STAGES:  # only the names the pipeline owns (see check_paths)
            leftover = run.out / f".{stage}.partial"
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
        bar = StageProgress(len(selected), enabled=None if progress is None else progress)
        explicit = stages is not None
        current = None
        try:
            for stage in selected:
                current = stage
                fingerprint = run.fingerprint(stage)
                if not (restart or explicit) and run.is_complete(stage, fingerprint):
                    log.info("stage %s: up to date, skipped", stage,
                             extra={"stage": stage, "event": "skipped"})
                    manifest.count(stage, **run.marker(stage)["counts"])
                    bar.end(stage, skipped=True)
                    continue
                run.verify_reads(stage, explicit=explicit)
                bar.start(stage)
                partial = run.partial_dir(stage)
                counts = _run_stage(run, stage, partial)
                run.commit(stage, partial, fingerprint, counts)
                manifest.count(stage, **counts)
                bar.end(stage)
            current = None
        except BaseException as exc:
            if current is not None:
                bar.end(current, failed=True)
                manifest.notes.append(f"failed in stage {current}: {type(exc).__name__}")
            try:
                _write_manifest(run, manifest)
            except OSError:  # e.g. the disk is still full: the first error is the one to show
                log.warning("the manifest could not be written after the failure")
            raise
        _write_manifest(run, manifest)
        from .evaluation.output_check import check_run  # every exported table, once
        check_run(run.out, manifest, threshold=config.quality.min_cell)
        return manifest
    finally:  # release the database (a file stays locked while a connection is open)
        run.con.close()


def _step(what: str, timings: dict | None = None, stage: str | None = None):
    """:func:`appariement._log.step` on the pipeline's logger, the stage in each record."""
    return step(log, what, timings, extra={"stage": stage} if stage else None)


def _run_stage(run: _Run, stage: str, partial: Path) -> dict:
    """Run one stage into its partial folder (a failed stage's folder is discarded by the next
    run)."""
    with _step(f"stage {stage}", run.manifest.timings, stage=stage):
        return _STAGE_FUNCTIONS[stage](run, partial)


def _write_manifest(run: _Run, manifest: RunManifest) -> None:
    if not run.out.exists():
        return
    for stage in STAGES:
        m = run.marker(stage)
        if m is not None:
            for name in m["outputs"]:
                manifest.outputs[f"{stage}/{name}"] = f"{stage}/{name}"
    manifest.write(run.out / "manifest.json")


def _dry_run(run: _Run) -> RunManifest:
    from .blocking import analyse_blocking

    cfg, manifest = run.cfg, run.manifest
    for table, path in run.input_files().items():
        manifest.add_input(table, path)
    run.required_keys()
    with _step("dry run: reading and checking the inputs", manifest.timings):
        inputs = run.inputs()
    manifest.count("inputs", **inputs.counts)
    with _step("dry run: standardising identities", manifest.timings):
        pf, sf = standardise_both(run.con, inputs.tables["candidats"], inputs.tables["personnes"],
                                  year_pivot=cfg.identity.year_pivot,
                                  first_name_variants=cfg.identity.first_name_variants)
    lk = cfg.linkage_config("nir")
    with _step("dry run: blocking analysis", manifest.timings):
        # the rules the model would choose from these features (see LinkageModel.plan)
        model = lk.model().plan(pf, sf, con=run.con)
        manifest.count("model_plan", **{e["step"]: e.get("chosen", e.get("absent"))
                                        for e in model.plan_log_})
        report = analyse_blocking(run.con, pf, sf, model.blocking_rules_)
    rows = report.table.select(["rule", "pairs", "marginal_pairs",
                                "cumulative_pairs"]).to_pylist()
    manifest.count("blocking", rules=rows, total_pairs=report.total_pairs,
                   budget=lk.comparison_budget,
                   within_budget=report.total_pairs <= lk.comparison_budget)
    manifest.notes.append("dry run: nothing linked, nothing written")
    return manifest


def run_demo(out_dir: str | Path, *, n_candidates: int = 2000, seed: int = 42,
             progress: bool | None = None, n_boot: int = 200) -> RunManifest:
    """Synthetic data, keys and a config in ``out_dir``, then :func:`run_pipeline` on it.

    The same code path as ``appariement init --synthetic`` + ``appariement run``: the pivot
    protocol with encrypted exchanges (keys generated into ``out_dir/keys``, mode 0600, never
    printed), linkage on pivot codes, the quality report and the counterfactual.

    Args:
        out_dir: the project folder: ``data/``, ``keys/``, ``config.toml`` and the run's
            outputs folder ``results/`` (one folder per stage, ``manifest.json``, ``run.log``),
            which holds none of the inputs.
        n_candidates: size of the synthetic platform extract (the source is 10× larger).
        seed: seed of the generator and of the run.
        progress: progress lines (None: on a terminal).
        n_boot: bootstrap replicates of the effect estimates (0: point estimates only; the
            bootstrap re-fits every model, about 15-40 ms per replicate at 2,000 candidates).

    Returns:
        The :class:`RunManifest` (also in ``out_dir/results/manifest.json``).

    Examples:
        >>> # run_demo("out/demo", n_candidates=500)
    """
    results = Path(out_dir) / DEMO_OUTPUTS
    check_output_dir(out_dir, "the demo folder")
    check_output_dir(results, "the demo's outputs folder")
    for stage in STAGES:  # what check_paths refuses, refused before the data is written
        folder = results / stage
        if (folder.exists() or folder.is_symlink()) and not _is_ours(folder):
            raise ConfigError(_foreign_stage_folder(folder))
    config_path = write_synthetic_project(out_dir, n_candidates=n_candidates, seed=seed,
                                          n_boot=n_boot)
    manifest = run_pipeline(config_path, progress=progress, command="demo")
    manifest.seeds["synth"] = seed
    manifest.write(results / "manifest.json")  # the run's manifest, with the synth seed
    return manifest


def write_synthetic_project(out_dir: str | Path, *, n_candidates: int = 2000, seed: int = 42,
                            n_boot: int = 0, config_name: str = "config.toml",
                            as_of: str = "2026-01-01") -> Path:
    """Write synthetic data (``data/``), pivot-protocol keys (``keys/``) and a config into
    ``out_dir``; the config's outputs folder is ``out_dir/results`` (:data:`DEMO_OUTPUTS`),
    beside the inputs, never around them.

    Existing keys are reused (never overwritten); data and config are rewritten. ``as_of``
    (``[project] as_of``, the demo's date) comes before the synthetic source's extraction date
    (:attr:`~appariement.synth.SynthConfig.source_date`): the spells recorded after it are set
    aside (``rejects = "set_aside"``).

    Returns:
        The config file path.
    """
    from .config import example_config
    from .crypto import generate_key, generate_keypair, save_key
    from .synth import write_synthetic

    out = Path(out_dir)
    with _step("synthetic data"):
        write_synthetic(out / "data", n_candidates=n_candidates, seed=seed)
    keys_dir = out / "keys"
    private_dir(keys_dir)
    if os.name == "posix":
        os.chmod(keys_dir, 0o700)
    files = {"pivot": "pivot.key", "pivot_exchange": "pivot_x25519.key",
             "statistician": "statistician_x25519.key"}
    for purpose, name in files.items():
        path = keys_dir / name
        if not path.exists():
            save_key(generate_key() if purpose == "pivot" else generate_keypair(), path)
    text = example_config(name="demo", platform="data/platform", source="data/source",
                          out=DEMO_OUTPUTS, mode="pivot",
                          keys={p: f"keys/{n}" for p, n in files.items()},
                          rejects="set_aside", n_boot=n_boot, as_of=as_of,
                          outcomes=("employed_12m", "employed_24m"),
                          sensitivity_thresholds=(0.5, 0.9), values={"project.seed": seed})
    from ._atomic import write_text
    return write_text(out / config_name, text)
