"""The pivot authority, a CSNS-like trusted third party, and the two other roles around it.

Three roles (see DESIGN.md and SECURITY.md):

- **producer** (platform, DARES source): keeps only the identity columns of its table and
  encrypts them for the pivot's public key — :func:`encrypt_identities`. It pseudonymises
  nothing itself.
- **pivot authority**: holds the pivot secret key, its X25519 private key and a reference
  register. :meth:`PivotAuthority.transcode` turns each row into ``row_id, pivot_code, quality,
  score``: the pivot code is the keyed HMAC (project- and purpose-derived key) of the validated
  NIR; when the NIR is missing, invalid, temporary or inconsistent with the traits, the person is
  looked up in the reference register by exact traits, then by the optional probabilistic
  ``matcher``, and gets the code of the reference person's NIR — the same code the person gets
  through their own NIR. A row carrying a pre-hashed ``hash_nir`` (hex SHA-256 of NIR + one
  global salt, as the platform's warehouse exports it) and no usable NIR is *re-keyed*: its code
  is the keyed HMAC of the hash under a sub-key of its own (purpose ``pivot-hash_nir``), so the
  statistician's files carry project-keyed codes and never the globally salted hash.
- **statistician**: receives only ``row_id -> pivot_code`` files (:func:`read_pivot_codes`
  refuses a file carrying identity columns), never a NIR.

Files between the roles are authenticated envelopes (:mod:`.envelope`) whose header binds the
project (its fingerprint), the side, the content kind and the roles: :func:`encrypt_identities`
writes ``identities`` from the ``producer`` for the ``pivot``, :func:`encrypt_pivot_codes` writes
``pivot-codes`` from the ``pivot`` for the ``statistician``. The readers
(:func:`read_identities` with a private key, :func:`read_pivot_codes`) take the project and side
they expect and refuse a plain file, a tampered or truncated one, an older format, or an
authentic file of another project, side, kind or role (:class:`~appariement.errors.CryptoError`,
exit code 4).

Quality indicators (column ``quality``):

================  ==========================================================================
nir_exact         valid NIR (not temporary), consistent with the traits or not checkable
                  (the NIR need not be in the reference register)
traits_exact      found by exact traits (birth or usage name, first name, birth date, sex),
                  unique in the reference
traits_probable   found by the probabilistic matcher; ``score`` holds its score
opaque_key        re-keyed from the row's pre-hashed ``hash_nir`` (no usable NIR, or
                  ``hash_nir="prefer"``); not checkable against the traits
nir_inconsistent  valid NIR that contradicts the declared traits, and traits found nobody; no
                  code unless ``codes_for_inconsistent=True``
not_found         no usable NIR and no (unique) person found by traits
================  ==========================================================================

Codes of a hash and codes of a NIR are never joinable: they are HMACs under two sub-keys derived
for distinct purposes (``pivot`` and ``pivot-hash_nir``), so the code of a person's hash differs
from the code of their NIR (equal only by a collision, probability about ``2**-130``). Both
producers' hashes of one person re-key to the same code, so the exact stage links two sides that
carry the same ``hash_nir``; when one side carries only hashes, transcode both sides with
``hash_nir="prefer"`` so that the side also carrying NIRs is coded from its hashes too.

Everything also runs in one process (demos, tests): build a :class:`PivotAuthority` and call
:meth:`~PivotAuthority.transcode` on tables directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._atomic import atomic_path
from .._log import get_logger
from .._tables import (TableLike, fresh_name, as_relation, connect, sql_list, temp_table,
                       temp_view,
                       to_arrow)
from ..identity.consistency import CONSISTENCY_STATUSES, TRUSTED_CONSISTENCY
from ..errors import (ConfigError, CryptoError, DisclosureError, InputError, InvalidValueError,
                      KeyFileError, SchemaError)
from .envelope import EnvelopeContext, decrypt_table, encrypt_table, is_encrypted
from .keys import PrivateKey, PublicKey, SecretKey
from .pseudonymise import DEFAULT_LENGTH, Pseudonymiser

__all__ = [
    "PivotAuthority", "encrypt_identities", "identity_columns", "read_identities",
    "read_pivot_codes", "encrypt_pivot_codes", "identities_context", "pivot_codes_context",
    "QUALITIES", "PIVOT_PURPOSE", "HASH_PIVOT_PURPOSE", "HASH_NIR_MODES", "OUTPUT_COLUMNS",
    "Matcher", "KIND_IDENTITIES", "KIND_PIVOT_CODES", "check_plain_output",
]

_log = get_logger(__name__)

#: purpose under which the pivot sub-key is derived from the pivot master key
PIVOT_PURPOSE = "pivot"
#: purpose of the sub-key that re-keys pre-hashed ``hash_nir`` values: distinct from
#: :data:`PIVOT_PURPOSE`, so a code of a hash is never joinable with a code of a NIR
HASH_PIVOT_PURPOSE = "pivot-hash_nir"
#: when a row's ``hash_nir`` is re-keyed: ``fallback`` only without a usable NIR, ``prefer``
#: whenever the row carries one
HASH_NIR_MODES = ("fallback", "prefer")
QUALITIES = ("nir_exact", "traits_exact", "traits_probable", "opaque_key", "nir_inconsistent",
             "not_found")
OUTPUT_COLUMNS = ("row_id", "pivot_code", "quality", "score")
#: content kinds bound in the headers of the two files of the protocol
KIND_IDENTITIES = "identities"
KIND_PIVOT_CODES = "pivot-codes"
_PRODUCER, _PIVOT, _STATISTICIAN = "producer", "pivot", "statistician"

#: matcher(con, unresolved, reference) -> table (record_id, person_id, score); ``unresolved`` and
#: ``reference`` are standardised identity relations (see appariement.identity), ``reference``
#: has ``record_id`` = person id.
Matcher = Callable[[duckdb.DuckDBPyConnection, duckdb.DuckDBPyRelation,
                    duckdb.DuckDBPyRelation], TableLike]

_IDENTITY_COLUMNS = ("nir", "hash_nir", "nom", "nom_naissance", "nom_usage", "prenoms", "sexe",
                     "date_naissance", "commune_naissance", "pays_naissance", "code_postal")
_DEFAULT_ID = {"platform": "candidat_id", "source": "person_id"}
_TABLES = {"platform": "candidats", "source": "personnes"}


def _usable(alias: str) -> str:
    """SQL: a NIR the pivot hashes (valid key and parts, permanent: not a 7/8 temporary)."""
    return f"({alias}.nir_valid AND {alias}.nir_class IN ('nir', 'foreign_born'))"


def _trusted(alias: str, statuses: tuple[str, ...] = TRUSTED_CONSISTENCY) -> str:
    """SQL: a usable NIR whose consistency with the declared traits is trusted (by default:
    the traits confirm it, or cannot check it)."""
    return f"({_usable(alias)} AND {alias}.nir_consistency IN ({sql_list(statuses)}))"


def _id_column(side: str, id_column: str | None) -> str:
    _check_side(side)
    return id_column or _DEFAULT_ID[side]


def _check_side(side: str) -> None:
    if side not in _DEFAULT_ID:
        raise ConfigError(f"side must be 'platform' or 'source', got {side!r}")


def _check_project(project: str | None) -> str:
    # the project name itself is never repeated: a key pasted by mistake must not be echoed
    if not isinstance(project, str) or not project:
        raise ConfigError("project must be given (a non-empty name): encrypted pivot files are "
                          "bound to their project")
    return project


def identities_context(project: str, side: str) -> EnvelopeContext:
    """Header context of a producer's identity file for the pivot (``project`` by name).

    Examples:
        >>> identities_context("demo", "source").kind
        'identities'
    """
    _check_side(side)
    return EnvelopeContext.for_project(_check_project(project), kind=KIND_IDENTITIES,
                                       side=side, sender=_PRODUCER, recipient=_PIVOT)


def pivot_codes_context(project: str, side: str) -> EnvelopeContext:
    """Header context of a pivot-code file for the statistician (``project`` by name).

    Examples:
        >>> pivot_codes_context("demo", "platform").recipient
        'statistician'
    """
    _check_side(side)
    return EnvelopeContext.for_project(_check_project(project), kind=KIND_PIVOT_CODES,
                                       side=side, sender=_PIVOT, recipient=_STATISTICIAN)


def check_plain_output(dst: str | os.PathLike) -> None:
    """Refuse to write a plaintext file under an encrypted file's name (``*.enc``): whoever
    receives it would believe it protected."""
    if Path(dst).suffix.lower() == ".enc":
        raise CryptoError(f"{Path(dst).name} is named like an encrypted file (.enc) but would be "
                          "written in plain: give the recipient's public key (--encrypt-for) "
                          "or an output name that does not end in .enc")


def _read_envelope(path: str | os.PathLike, private_key: PrivateKey,
                   expect: EnvelopeContext) -> pa.Table:
    if not isinstance(private_key, PrivateKey):
        raise ConfigError(f"{Path(path).name}: an encrypted pivot file needs the recipient's "
                          "X25519 PrivateKey")
    if not Path(path).is_file():
        raise InputError(f"{Path(path).name} does not exist or is not a file")
    return decrypt_table(path, private_key, expect=expect)


def identity_columns(data: pa.Table, *, side: str = "platform",
                     id_column: str | None = None) -> pa.Table:
    """Keep only the row id and the identity columns the pivot needs.

    Args:
        data: Arrow table following the data contract (``candidats`` or ``personnes``).
        side: ``"platform"`` or ``"source"``.
        id_column: row key (default ``candidat_id`` / ``person_id``).

    Returns:
        Arrow table: the id column then the identity columns present (``nir``, a pre-hashed
        ``hash_nir``, names, first names, sex, birth date and place, postcode), nothing else (no
        outcome, no candidature ever goes to the pivot).

    Examples:
        >>> t = pa.table({"candidat_id": ["c1"], "nom": ["X"], "prenoms": ["Y"], "etat": ["ok"]})
        >>> identity_columns(t).column_names
        ['candidat_id', 'nom', 'prenoms']
    """
    from .._tables import refuse_duplicate_columns

    key = _id_column(side, id_column)
    refuse_duplicate_columns(data.column_names, "identity table")  # which 'nom' would go?
    if key not in data.column_names:
        raise SchemaError(f"identity table lacks its id column {key!r}; pass id_column=",
                          column=key)
    keep = [key] + [c for c in _IDENTITY_COLUMNS if c in data.column_names and c != key]
    return data.select(keep)


def encrypt_identities(data: TableLike, dst: str | os.PathLike, pivot_public_key: PublicKey, *,
                       project: str, side: str = "platform", id_column: str | None = None
                       ) -> Path:
    """Producer role: encrypt the identity columns of a table for the pivot authority.

    Args:
        data: table (Arrow, pandas, DuckDB relation or Parquet/CSV path).
        dst: encrypted output (no plaintext file is written).
        pivot_public_key: the pivot authority's X25519 :class:`PublicKey`.
        project: project name, bound (as a fingerprint) in the header with the side.
        side: ``"platform"`` (candidats) or ``"source"`` (personnes).
        id_column: row key (default ``candidat_id`` / ``person_id``).

    Returns:
        ``dst`` as a Path.

    Examples:
        >>> import tempfile, pathlib
        >>> from appariement.crypto import generate_keypair
        >>> pivot = generate_keypair()
        >>> t = pa.table({"candidat_id": ["c1"], "nom": ["X"], "prenoms": ["Y"]})
        >>> p = encrypt_identities(t, pathlib.Path(tempfile.mkdtemp()) / "ids.enc",
        ...                        pivot.public_key(), project="demo")
        >>> read_identities(p, pivot, project="demo").column_names
        ['candidat_id', 'nom', 'prenoms']
    """
    context = identities_context(project, side)
    con = connect()
    table = identity_columns(to_arrow(as_relation(con, data, name="identities")), side=side,
                             id_column=id_column)
    path = encrypt_table(table, dst, pivot_public_key, context=context)
    _log.info("producer: %d identity rows (%s) encrypted for the pivot", table.num_rows, side)
    return path


def read_identities(path: str | os.PathLike, private_key: PrivateKey | None = None, *,
                    project: str | None = None, side: str = "platform") -> pa.Table:
    """Read an identity file: a producer's envelope (with a key), or a plain table (without).

    Args:
        path: file to read.
        private_key: the pivot's X25519 private key. When given, ``path`` must be an
            authentic identity file of ``project`` and ``side`` made by a producer for the pivot
            (decrypted in memory only); a plain file is refused. Without it, ``path`` is plain
            Parquet or CSV (all columns as text) and an encrypted file is refused.
        project: project name the file must belong to (required with ``private_key``).
        side: side the file must come from (``"platform"`` or ``"source"``).

    Returns:
        Arrow table.

    Raises:
        CryptoError: with a key, a plain, tampered, truncated or older-format file, a wrong
            key, or a file of another project, side, kind or role.

    Example (the pivot reads what a producer encrypted for it)::

        table = read_identities("candidats.ids.enc", pivot_x25519, project="iae",
                                side="platform")
    """
    if private_key is not None:
        return _read_envelope(path, private_key, identities_context(project, side))
    if not Path(path).is_file():
        raise InputError(f"{Path(path).name} does not exist or is not a file")
    if is_encrypted(path):
        raise ConfigError(f"{Path(path).name} is encrypted: give the private key that "
                          "decrypts it")
    from .._tables import refuse_duplicate_columns
    from ..io.guard import read_text_table  # guarded: no field value in any read error

    table = read_text_table(path, what="identities")
    refuse_duplicate_columns(table.column_names, f"identities ({Path(path).name})")
    return table


class PivotAuthority:
    """The trusted third party: turns NIRs or identity traits into pivot codes.

    Args:
        pivot_key: the pivot's master :class:`SecretKey` (the ``pivot`` sub-key of ``project``
            is derived from it), never shared.
        project: project name; codes of two projects cannot be joined.
        reference: the reference register (``personnes``-shaped table: ``person_id``, ``nir``,
            names, ``prenoms``, ``sexe``, ``date_naissance`` ...), any table-like.
        reference_id: id column of ``reference``.
        matcher: optional probabilistic matcher ``matcher(con, unresolved, reference)`` returning
            ``record_id, person_id, score`` (see :data:`Matcher`); rows left unresolved by exact
            traits are offered to it.
        min_score: lowest matcher score accepted as ``traits_probable``.
        codes_for_inconsistent: give ``nir_inconsistent`` rows the code of their NIR (flagged)
            instead of no code.
        trusted_consistency: NIR consistency statuses under which a usable NIR is coded as
            ``nir_exact`` (``[identity] trusted_consistency``; default: consistent,
            unverifiable).
        hash_nir: when a row's pre-hashed ``hash_nir`` is re-keyed (quality ``opaque_key``):
            ``"fallback"`` (default) only when the row has no usable NIR; ``"prefer"`` whenever
            it carries one, even beside a usable NIR. A code of a hash never joins a code of a
            NIR: when one side carries only hashes, use ``"prefer"`` for both sides.
        length: characters per pivot code.
        con: DuckDB connection (a private one by default).

    Attributes:
        fingerprint: fingerprint of the derived NIR sub-key (purpose ``pivot``).
        hash_fingerprint: fingerprint of the derived ``hash_nir`` sub-key (purpose
            ``pivot-hash_nir``), None when ``pivot_key`` is not a master key.

    Examples:
        >>> from appariement.crypto import generate_key
        >>> ref = pa.table({"person_id": ["p1"], "nir": ["184057512345625"],
        ...                 "nom_naissance": ["Martin"], "prenoms": ["Jean"], "sexe": ["1"],
        ...                 "date_naissance": ["1984-05-02"]})
        >>> pivot = PivotAuthority(generate_key(), project="demo", reference=ref)
        >>> ids = pa.table({"candidat_id": ["c1", "c2"], "nir": ["1 84 05 75 123 456 25", None],
        ...                 "nom": ["MARTIN", "Martin"], "prenoms": ["Jean", "Jean"],
        ...                 "sexe": ["M", "M"], "date_naissance": ["02/05/1984", "02/05/1984"]})
        >>> out = pivot.transcode(ids)
        >>> out.column("quality").to_pylist()
        ['nir_exact', 'traits_exact']
        >>> len(set(out.column("pivot_code").to_pylist()))
        1
        >>> hashed = pa.table({"candidat_id": ["c3"], "hash_nir": ["ab" * 32]})
        >>> pivot.transcode(hashed).column("quality").to_pylist()
        ['opaque_key']
    """

    def __init__(self, pivot_key: SecretKey, *, project: str, reference: TableLike,
                 reference_id: str = "person_id", matcher: Matcher | None = None,
                 min_score: float = 0.9, codes_for_inconsistent: bool = False,
                 hash_nir: str = "fallback", length: int = DEFAULT_LENGTH,
                 trusted_consistency: tuple[str, ...] = TRUSTED_CONSISTENCY,
                 con: duckdb.DuckDBPyConnection | None = None):
        if matcher is not None and not callable(matcher):
            raise ConfigError("matcher must be a callable matcher(con, unresolved, reference)")
        if not 0.0 <= float(min_score) <= 1.0:
            raise ConfigError(f"min_score must be between 0 and 1, got {min_score!r}")
        if hash_nir not in HASH_NIR_MODES:
            raise ConfigError(f"hash_nir must be one of {list(HASH_NIR_MODES)}, got {hash_nir!r}")
        trusted = tuple(trusted_consistency)
        bad = sorted(set(trusted) - set(CONSISTENCY_STATUSES))
        if bad or not trusted:
            raise ConfigError(f"trusted_consistency must list statuses among "
                              f"{', '.join(CONSISTENCY_STATUSES)}; got {list(trusted)}")
        self.trusted_consistency = trusted
        self._pseudonymiser = Pseudonymiser(pivot_key, project=project, purpose=PIVOT_PURPOSE,
                                            length=length, normalise="nir")
        # a key already derived for purpose "pivot" cannot give the hash sub-key: such a pivot
        # codes NIRs and traits as before and refuses to re-key a hash (see _hash_codes)
        self._hash_pseudonymiser = None
        if pivot_key.project is None:
            # the values are standardised (trimmed, lower-case hex) before they are hashed
            self._hash_pseudonymiser = Pseudonymiser(pivot_key, project=project,
                                                     purpose=HASH_PIVOT_PURPOSE, length=length,
                                                     normalise="none")
        self.hash_nir = hash_nir
        self.project = project
        self.reference = reference
        self.reference_id = reference_id
        self.matcher = matcher
        self.min_score = float(min_score)
        self.codes_for_inconsistent = bool(codes_for_inconsistent)
        self.con = con if con is not None else connect()
        self._reference_table: str | None = None

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the derived pivot key (for manifests)."""
        return self._pseudonymiser.fingerprint

    @property
    def hash_fingerprint(self) -> str | None:
        """Fingerprint of the derived ``hash_nir`` re-keying sub-key (for manifests)."""
        if self._hash_pseudonymiser is None:
            return None
        return self._hash_pseudonymiser.fingerprint

    def __repr__(self) -> str:
        return f"PivotAuthority(project={self.project!r}, key={self.fingerprint!r})"

    def __reduce__(self):
        raise TypeError("a PivotAuthority holds a key and cannot be pickled")

    # -- the reference register -----------------------------------------------------------------

    def _reference_relation(self) -> duckdb.DuckDBPyRelation:
        from ..identity import standardise_identities

        if self._reference_table is None:
            rel = standardise_identities(self.con, self.reference, side="source",
                                         id_column=self.reference_id)
            name = fresh_name("pivot_reference")
            temp_table(rel, name)
            self._reference_table = name
            n = self.con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            _log.info("pivot: reference register standardised (%d persons)", n)
        return self.con.table(self._reference_table)

    # -- transcoding ----------------------------------------------------------------------------

    def transcode(self, identities: TableLike, *, side: str = "platform",
                  id_column: str | None = None) -> pa.Table:
        """Pivot role: pivot code and quality indicator for every row.

        Args:
            identities: identity table (decrypted producer file, or any table-like).
            side: ``"platform"`` (candidats) or ``"source"`` (personnes).
            id_column: row key (default ``candidat_id`` / ``person_id``).

        Returns:
            Arrow table ``row_id`` (text), ``pivot_code`` (text or null), ``quality`` (one of
            :data:`QUALITIES`), ``score`` (matcher score for ``traits_probable``, else null),
            one row per input row, sorted by ``row_id``. A ``hash_nir`` value never appears in
            it: rows re-keyed from their hash (``opaque_key``) carry its keyed code only.

        Raises:
            InvalidValueError: a ``hash_nir`` value is not 64 hexadecimal characters (a wrong
                column mapping; the values are counted, never shown).
            KeyFileError: rows must be re-keyed from ``hash_nir`` but ``pivot_key`` was not the
                master key.

        See the class example.
        """
        from ..identity import standardise_identities

        key = _id_column(side, id_column)
        con = self.con
        reference = self._reference_relation()
        rows = standardise_identities(con, identities, side=side, id_column=key)
        has_hash = "hash_nir" in rows.columns
        rows_name = fresh_name("pivot_rows")
        temp_table(rows, rows_name)
        try:
            if has_hash:
                _check_hashes(con, rows_name, side)
            resolved = self._resolve(rows_name, reference, has_hash)
        finally:
            con.execute(f'DROP TABLE IF EXISTS "{rows_name}"')
        codes = self._pseudonymiser.pseudonymise(resolved.column("code_nir"))
        if has_hash:
            codes = pc.coalesce(codes, self._hash_codes(resolved.column("code_hash")))
        out = pa.table({
            "row_id": resolved.column("row_id"),
            "pivot_code": codes,
            "quality": resolved.column("quality"),
            "score": resolved.column("score"),
        })
        counts = {q: 0 for q in QUALITIES}
        for value, count in _value_counts(out.column("quality")):
            counts[value] = count
        _log.info("pivot: transcoded %d rows (%s): %s", out.num_rows, side,
                  ", ".join(f"{q}={n}" for q, n in counts.items()))
        if counts["opaque_key"]:
            _log.info("pivot: %d rows (%s) re-keyed from hash_nir with key %s",
                      counts["opaque_key"], side, self.hash_fingerprint)
        return out

    def _hash_codes(self, hashes: pa.ChunkedArray) -> pa.ChunkedArray:
        """Keyed codes of the standardised hashes (nulls stay null)."""
        if self._hash_pseudonymiser is None:
            if hashes.null_count == len(hashes):
                return hashes
            raise KeyFileError(
                f"{len(hashes) - hashes.null_count} rows must be re-keyed from hash_nir, which "
                f"needs a sub-key of purpose {HASH_PIVOT_PURPOSE!r}: give the pivot master key, "
                f"not a key derived for purpose {PIVOT_PURPOSE!r}")
        return self._hash_pseudonymiser.pseudonymise(hashes)

    def _hash_route(self, alias: str, has_hash: bool) -> str:
        """SQL: the row's code is the re-keyed ``hash_nir`` (quality ``opaque_key``)."""
        if not has_hash:
            return "FALSE"
        if self.hash_nir == "prefer":
            return f"({alias}.hash_nir IS NOT NULL)"
        return f"({alias}.hash_nir IS NOT NULL AND NOT {_usable(alias)})"

    def _resolve(self, rows_name: str, reference: duckdb.DuckDBPyRelation,
                 has_hash: bool = False) -> pa.Table:
        con = self.con
        ref_name = self._reference_table
        hashed = self._hash_route("q", has_hash)
        exact_sql = f"""
            SELECT q.record_id, any_value(r.nir) AS ref_nir, bool_and(r.usable) AS ref_usable,
                   count(DISTINCT coalesce(r.nir, r.record_id)) AS n_persons
            FROM "{rows_name}" q
            JOIN (SELECT *, {_usable("t")} AS usable FROM "{ref_name}" t) r
              ON q.first_name = r.first_name AND q.birth_date = r.birth_date
             AND q.sex = r.sex
             AND (q.birth_name IN (r.birth_name, r.usage_name)
                  OR q.usage_name IN (r.birth_name, r.usage_name))
            WHERE NOT {_trusted("q", self.trusted_consistency)} AND NOT {hashed}
            GROUP BY q.record_id
        """
        exact_name = fresh_name("pivot_exact")
        con.execute(f'CREATE OR REPLACE TEMP TABLE "{exact_name}" AS {exact_sql}')
        probable_name = fresh_name("pivot_probable")
        self._run_matcher(rows_name, exact_name, probable_name, reference, hashed)
        inconsistent_code = "nir" if self.codes_for_inconsistent else "NULL"
        hash_value = "q.hash_nir" if has_hash else "NULL::VARCHAR"
        # the hash route comes first: with "fallback" it only takes rows without a usable NIR
        # (so never a nir_exact row), with "prefer" it takes every row carrying a hash
        sql = f"""
            WITH d AS (
                SELECT q.record_id AS row_id, q.nir, {hash_value} AS hash_nir,
                       CASE WHEN {hashed} THEN 'opaque_key'
                            WHEN {_trusted("q", self.trusted_consistency)} THEN 'nir_exact'
                            WHEN e.n_persons = 1 AND e.ref_usable THEN 'traits_exact'
                            WHEN p.ref_nir IS NOT NULL THEN 'traits_probable'
                            WHEN {_usable("q")} AND q.nir_consistency = 'inconsistent'
                              THEN 'nir_inconsistent'
                            ELSE 'not_found'
                       END AS quality,
                       e.ref_nir AS exact_nir, p.ref_nir AS probable_nir, p.score AS p_score
                FROM "{rows_name}" q
                LEFT JOIN "{exact_name}" e USING (record_id)
                LEFT JOIN "{probable_name}" p USING (record_id)
            )
            SELECT row_id,
                   CASE quality WHEN 'nir_exact' THEN nir
                                WHEN 'traits_exact' THEN exact_nir
                                WHEN 'traits_probable' THEN probable_nir
                                WHEN 'nir_inconsistent' THEN {inconsistent_code}
                   END AS code_nir,
                   CASE WHEN quality = 'opaque_key' THEN hash_nir END AS code_hash,
                   quality,
                   CASE WHEN quality = 'traits_probable' THEN p_score END AS score
            FROM d
            ORDER BY row_id
        """
        try:
            return con.sql(sql).to_arrow_table()
        finally:
            con.execute(f'DROP TABLE IF EXISTS "{exact_name}"')
            con.execute(f'DROP TABLE IF EXISTS "{probable_name}"')

    def _run_matcher(self, rows_name: str, exact_name: str, probable_name: str,
                     reference: duckdb.DuckDBPyRelation, hashed: str = "FALSE") -> None:
        con = self.con
        empty = (f'CREATE OR REPLACE TEMP TABLE "{probable_name}" AS '
                 "SELECT NULL::VARCHAR AS record_id, NULL::VARCHAR AS ref_nir, "
                 "NULL::DOUBLE AS score WHERE false")
        if self.matcher is None:
            con.execute(empty)
            return
        unresolved = con.sql(f"""
            SELECT q.* FROM "{rows_name}" q LEFT JOIN "{exact_name}" e USING (record_id)
            WHERE NOT {_trusted("q", self.trusted_consistency)} AND NOT {hashed}
              AND NOT coalesce(e.n_persons = 1 AND e.ref_usable, false)
        """)
        candidates = as_relation(con, self.matcher(con, unresolved, reference), name="matches")
        missing = {"record_id", "person_id", "score"} - set(candidates.columns)
        if missing:
            raise ConfigError(f"the matcher must return record_id, person_id, score; missing "
                              f"{sorted(missing)}")
        cand_name = fresh_name("pivot_candidates")
        temp_view(candidates, cand_name)
        # best candidate per record, accepted only when unique at the top and above min_score
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE "{probable_name}" AS
            WITH c AS (
                SELECT CAST(m.record_id AS VARCHAR) AS record_id, r.nir AS ref_nir,
                       CAST(m.score AS DOUBLE) AS score, {_usable("r")} AS usable
                FROM "{cand_name}" m JOIN "{self._reference_table}" r
                  ON r.record_id = CAST(m.person_id AS VARCHAR)
                WHERE m.score >= ?
            ), ranked AS (
                SELECT *, count(*) OVER (PARTITION BY record_id, score) AS ties,
                       row_number() OVER (PARTITION BY record_id ORDER BY score DESC) AS rank
                FROM c
            )
            SELECT record_id, ref_nir, score FROM ranked
            WHERE rank = 1 AND ties = 1 AND usable
        """, [self.min_score])
        con.execute(f'DROP VIEW IF EXISTS "{cand_name}"')

    def transcode_file(self, src: str | os.PathLike, dst: str | os.PathLike, *,
                       private_key: PrivateKey, side: str = "platform",
                       id_column: str | None = None, recipient: PublicKey | None = None
                       ) -> Path:
        """Pivot role on files: decrypt a producer file in memory, transcode, write codes.

        Args:
            src: identity file from :func:`encrypt_identities` for this project and ``side``
                (single-machine mode: call :meth:`transcode` on tables instead).
            dst: output ``row_id, pivot_code, quality, score``.
            private_key: the pivot's X25519 private key.
            side, id_column: see :meth:`transcode`.
            recipient: if given, ``dst`` is encrypted for this public key (the statistician)
                with :func:`encrypt_pivot_codes`; otherwise plain Parquet, refused under a
                ``.enc`` name.

        Returns:
            ``dst`` as a Path.

        Example::

            pivot.transcode_file("ids.enc", "codes.enc", private_key=pivot_x25519,
                                 recipient=statistician_public_key)
        """
        if recipient is None:
            check_plain_output(dst)
        table = read_identities(src, private_key, project=self.project, side=side)
        out = self.transcode(table, side=side, id_column=id_column)
        if recipient is not None:
            return encrypt_pivot_codes(out, dst, recipient, project=self.project, side=side)
        with atomic_path(dst) as tmp:
            pq.write_table(out, tmp)
        return Path(dst)


def _check_hashes(con: duckdb.DuckDBPyConnection, rows_name: str, side: str) -> None:
    """Refuse ``hash_nir`` values that are not a SHA-256 hex digest, as the import profiles do:
    such a value means a wrong column mapping (a plaintext NIR mapped as its hash would
    otherwise be re-keyed as an opaque key, and its code would join nothing)."""
    from ..io.contract import OPAQUE_KEY_PATTERN

    bad = con.execute(f'SELECT count(*) FROM "{rows_name}" WHERE hash_nir IS NOT NULL AND NOT '
                      "regexp_full_match(hash_nir, ?)", [OPAQUE_KEY_PATTERN]).fetchone()[0]
    if bad:
        raise InvalidValueError(
            f"{side} identities, column 'hash_nir': {bad} value(s) are not pre-hashed keys "
            "(64 hexadecimal characters, a SHA-256 digest); check the column mapping",
            table=_TABLES[side], column="hash_nir", n_rows=bad)


def _value_counts(column: pa.ChunkedArray) -> list[tuple[str, int]]:
    counts = column.value_counts()
    if isinstance(counts, pa.ChunkedArray):
        counts = counts.combine_chunks()
    return [(v["values"], v["counts"]) for v in counts.to_pylist()]


def _check_code_columns(table: pa.Table, where: str) -> None:
    from ..io.guard import describe_columns

    extra = [c for c in table.column_names if c not in OUTPUT_COLUMNS]
    if extra or "pivot_code" not in table.column_names:
        # a column name may be a value (a plain file whose first data row became its header):
        # only the names of known columns are printed, the others are counted
        found = (f"found unexpected {describe_columns(extra, known=_IDENTITY_COLUMNS)}"
                 if extra else "found no pivot_code column")
        raise DisclosureError(
            f"{where} is not a pivot-code table: expected columns {list(OUTPUT_COLUMNS)}, "
            f"{found}; identity columns must never reach the statistician")


def encrypt_pivot_codes(codes: pa.Table, dst: str | os.PathLike, recipient: PublicKey, *,
                        project: str, side: str) -> Path:
    """Pivot role: encrypt a pivot-code table for the statistician, bound to project and side.

    Args:
        codes: ``row_id, pivot_code, quality, score`` (from :meth:`PivotAuthority.transcode`).
        dst: encrypted output.
        recipient: the statistician's X25519 :class:`PublicKey`.
        project: project name (bound as a fingerprint in the header).
        side: ``"platform"`` or ``"source"``: the side the codes are for.

    Raises:
        DisclosureError: the table has a column other than the pivot-code columns.

    Examples:
        >>> import tempfile, pathlib
        >>> from appariement.crypto import generate_keypair
        >>> stat = generate_keypair(); p = pathlib.Path(tempfile.mkdtemp()) / "codes.enc"
        >>> codes = pa.table({"row_id": ["c1"], "pivot_code": ["X"], "quality": ["nir_exact"]})
        >>> _ = encrypt_pivot_codes(codes, p, stat.public_key(), project="demo", side="source")
        >>> read_pivot_codes(p, stat, project="demo", side="source").num_rows
        1
    """
    context = pivot_codes_context(project, side)
    _check_code_columns(codes, Path(dst).name)
    return encrypt_table(codes, dst, recipient, context=context)


def read_pivot_codes(path: str | os.PathLike, private_key: PrivateKey, *, project: str,
                     side: str) -> pa.Table:
    """Statistician role: read a pivot-code envelope, checking what it is and what it holds.

    Args:
        path: file written by :func:`encrypt_pivot_codes` (``pivot transcode --encrypt-for``).
        private_key: the statistician's X25519 private key.
        project: the project the codes must belong to.
        side: the side they must be for (``"platform"`` or ``"source"``).

    Returns:
        Arrow table ``row_id, pivot_code, quality, score``.

    Raises:
        CryptoError: a plain file, a tampered, truncated or older-format envelope, a wrong key,
            or an authentic file of another project, side, kind or role.
        DisclosureError: the file has other columns (a NIR or a trait must never reach the
            statistician).

    See :func:`encrypt_pivot_codes` for an example.
    """
    table = _read_envelope(path, private_key, pivot_codes_context(project, side))
    _check_code_columns(table, Path(path).name)
    return table
