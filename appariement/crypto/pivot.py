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
  through their own NIR.
- **statistician**: receives only ``row_id -> pivot_code`` files (:func:`read_pivot_codes`
  refuses a file carrying identity columns), never a NIR.

Quality indicators (column ``quality``):

================  ==========================================================================
nir_exact         valid NIR (not temporary), consistent with the traits or not checkable
                  (the NIR need not be in the reference register)
traits_exact      found by exact traits (birth or usage name, first name, birth date, sex),
                  unique in the reference
traits_probable   found by the probabilistic matcher; ``score`` holds its score
nir_inconsistent  valid NIR that contradicts the declared traits, and traits found nobody; no
                  code unless ``codes_for_inconsistent=True``
not_found         no usable NIR and no (unique) person found by traits
================  ==========================================================================

Everything also runs in one process (demos, tests): build a :class:`PivotAuthority` and call
:meth:`~PivotAuthority.transcode` on tables directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .._atomic import atomic_path
from .._log import get_logger
from .._tables import (TableLike, _fresh_name, as_relation, connect, temp_table, temp_view,
                       to_arrow)
from ..errors import ConfigError, DisclosureError, SchemaError
from .envelope import decrypt_table, encrypt_table, is_encrypted
from .keys import PrivateKey, PublicKey, SecretKey
from .pseudonymise import DEFAULT_LENGTH, Pseudonymiser

__all__ = [
    "PivotAuthority", "encrypt_identities", "identity_columns", "read_identities",
    "read_pivot_codes",
    "QUALITIES", "PIVOT_PURPOSE", "OUTPUT_COLUMNS", "Matcher",
]

_log = get_logger(__name__)

#: purpose under which the pivot sub-key is derived from the pivot master key
PIVOT_PURPOSE = "pivot"
QUALITIES = ("nir_exact", "traits_exact", "traits_probable", "nir_inconsistent", "not_found")
OUTPUT_COLUMNS = ("row_id", "pivot_code", "quality", "score")

#: matcher(con, unresolved, reference) -> table (record_id, person_id, score); ``unresolved`` and
#: ``reference`` are standardised identity relations (see appariement.identity), ``reference``
#: has ``record_id`` = person id.
Matcher = Callable[[duckdb.DuckDBPyConnection, duckdb.DuckDBPyRelation,
                    duckdb.DuckDBPyRelation], TableLike]

_IDENTITY_COLUMNS = ("nir", "nom", "nom_naissance", "nom_usage", "prenoms", "sexe",
                     "date_naissance", "commune_naissance", "pays_naissance", "code_postal")
_DEFAULT_ID = {"platform": "candidat_id", "source": "person_id"}


def _usable(alias: str) -> str:
    """SQL: a NIR the pivot hashes (valid key and parts, permanent: not a 7/8 temporary)."""
    return f"({alias}.nir_valid AND {alias}.nir_class IN ('nir', 'foreign_born'))"


def _trusted(alias: str) -> str:
    """SQL: a usable NIR that the declared traits confirm, or cannot check."""
    return f"({_usable(alias)} AND {alias}.nir_consistency IN ('consistent', 'unverifiable'))"


def _id_column(side: str, id_column: str | None) -> str:
    if side not in _DEFAULT_ID:
        raise ConfigError(f"side must be 'platform' or 'source', got {side!r}")
    return id_column or _DEFAULT_ID[side]


def identity_columns(data: pa.Table, *, side: str = "platform",
                     id_column: str | None = None) -> pa.Table:
    """Keep only the row id and the identity columns the pivot needs.

    Args:
        data: Arrow table following the data contract (``candidats`` or ``personnes``).
        side: ``"platform"`` or ``"source"``.
        id_column: row key (default ``candidat_id`` / ``person_id``).

    Returns:
        Arrow table: the id column then the identity columns present, nothing else (no outcome,
        no candidature ever goes to the pivot).

    Examples:
        >>> t = pa.table({"candidat_id": ["c1"], "nom": ["X"], "prenoms": ["Y"], "etat": ["ok"]})
        >>> identity_columns(t).column_names
        ['candidat_id', 'nom', 'prenoms']
    """
    key = _id_column(side, id_column)
    if key not in data.column_names:
        raise SchemaError(f"identity table lacks its id column {key!r}; pass id_column=",
                          column=key)
    keep = [key] + [c for c in _IDENTITY_COLUMNS if c in data.column_names and c != key]
    return data.select(keep)


def encrypt_identities(data: TableLike, dst: str | os.PathLike, pivot_public_key: PublicKey, *,
                       side: str = "platform", id_column: str | None = None) -> Path:
    """Producer role: encrypt the identity columns of a table for the pivot authority.

    Args:
        data: table (Arrow, pandas, DuckDB relation or Parquet/CSV path).
        dst: encrypted output (no plaintext file is written).
        pivot_public_key: the pivot authority's X25519 :class:`PublicKey`.
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
        ...                        pivot.public_key())
    """
    con = connect()
    table = identity_columns(to_arrow(as_relation(con, data, name="identities")), side=side,
                             id_column=id_column)
    path = encrypt_table(table, dst, pivot_public_key)
    _log.info("producer: %d identity rows (%s) encrypted for the pivot", table.num_rows, side)
    return path


def read_identities(path: str | os.PathLike, private_key: PrivateKey | None = None
                    ) -> pa.Table:
    """Read a table that may be encrypted: envelope file, Parquet, or CSV (all text).

    Args:
        path: file to read.
        private_key: decrypts an encrypted file (decrypted in memory only).

    Returns:
        Arrow table.

    Examples:
        >>> # read_identities("candidats.ids.enc", private_key=pivot_x25519)
    """
    if is_encrypted(path):
        if private_key is None:
            raise ConfigError(f"{Path(path).name} is encrypted: give the private key that "
                              "decrypts it")
        return decrypt_table(path, private_key)
    from ..io.guard import read_text_table  # guarded: no field value in any read error
    return read_text_table(path, what="identities")


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
        length: characters per pivot code.
        con: DuckDB connection (a private one by default).

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
    """

    def __init__(self, pivot_key: SecretKey, *, project: str, reference: TableLike,
                 reference_id: str = "person_id", matcher: Matcher | None = None,
                 min_score: float = 0.9, codes_for_inconsistent: bool = False,
                 length: int = DEFAULT_LENGTH, con: duckdb.DuckDBPyConnection | None = None):
        if matcher is not None and not callable(matcher):
            raise ConfigError("matcher must be a callable matcher(con, unresolved, reference)")
        if not 0.0 <= float(min_score) <= 1.0:
            raise ConfigError(f"min_score must be between 0 and 1, got {min_score!r}")
        self._pseudonymiser = Pseudonymiser(pivot_key, project=project, purpose=PIVOT_PURPOSE,
                                            length=length, normalise="nir")
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
            name = _fresh_name("pivot_reference")
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
            one row per input row, sorted by ``row_id``.

        Examples:
            >>> # see the class example
        """
        from ..identity import standardise_identities

        key = _id_column(side, id_column)
        con = self.con
        reference = self._reference_relation()
        rows = standardise_identities(con, identities, side=side, id_column=key)
        rows_name = _fresh_name("pivot_rows")
        temp_table(rows, rows_name)
        try:
            resolved = self._resolve(rows_name, reference)
        finally:
            con.execute(f'DROP TABLE IF EXISTS "{rows_name}"')
        codes = self._pseudonymiser.pseudonymise(resolved.column("code_nir"))
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
        return out

    def _resolve(self, rows_name: str, reference: duckdb.DuckDBPyRelation) -> pa.Table:
        con = self.con
        ref_name = self._reference_table
        exact_sql = f"""
            SELECT q.record_id, any_value(r.nir) AS ref_nir, bool_and(r.usable) AS ref_usable,
                   count(DISTINCT coalesce(r.nir, r.record_id)) AS n_persons
            FROM "{rows_name}" q
            JOIN (SELECT *, {_usable("t")} AS usable FROM "{ref_name}" t) r
              ON q.first_name = r.first_name AND q.birth_date = r.birth_date
             AND q.sex = r.sex
             AND (q.birth_name IN (r.birth_name, r.usage_name)
                  OR q.usage_name IN (r.birth_name, r.usage_name))
            WHERE NOT {_trusted("q")}
            GROUP BY q.record_id
        """
        exact_name = _fresh_name("pivot_exact")
        con.execute(f'CREATE OR REPLACE TEMP TABLE "{exact_name}" AS {exact_sql}')
        probable_name = _fresh_name("pivot_probable")
        self._run_matcher(rows_name, exact_name, probable_name, reference)
        inconsistent_code = "nir" if self.codes_for_inconsistent else "NULL"
        sql = f"""
            WITH d AS (
                SELECT q.record_id AS row_id, q.nir,
                       CASE WHEN {_trusted("q")} THEN 'nir_exact'
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
                     reference: duckdb.DuckDBPyRelation) -> None:
        con = self.con
        empty = (f'CREATE OR REPLACE TEMP TABLE "{probable_name}" AS '
                 "SELECT NULL::VARCHAR AS record_id, NULL::VARCHAR AS ref_nir, "
                 "NULL::DOUBLE AS score WHERE false")
        if self.matcher is None:
            con.execute(empty)
            return
        unresolved = con.sql(f"""
            SELECT q.* FROM "{rows_name}" q LEFT JOIN "{exact_name}" e USING (record_id)
            WHERE NOT {_trusted("q")}
              AND NOT coalesce(e.n_persons = 1 AND e.ref_usable, false)
        """)
        candidates = as_relation(con, self.matcher(con, unresolved, reference), name="matches")
        missing = {"record_id", "person_id", "score"} - set(candidates.columns)
        if missing:
            raise ConfigError(f"the matcher must return record_id, person_id, score; missing "
                              f"{sorted(missing)}")
        cand_name = _fresh_name("pivot_candidates")
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
                       private_key: PrivateKey | None = None, side: str = "platform",
                       id_column: str | None = None, recipient: PublicKey | None = None
                       ) -> Path:
        """Pivot role on files: decrypt a producer file in memory, transcode, write codes.

        Args:
            src: identity file from :func:`encrypt_identities` (or plain Parquet/CSV in
                single-machine mode).
            dst: output Parquet ``row_id, pivot_code, quality, score``.
            private_key: the pivot's X25519 private key (needed for an encrypted ``src``).
            side, id_column: see :meth:`transcode`.
            recipient: if given, ``dst`` is encrypted for this public key (the statistician).

        Returns:
            ``dst`` as a Path.

        Examples:
            >>> # pivot.transcode_file("ids.enc", "codes.parquet", private_key=pivot_x25519)
        """
        table = read_identities(src, private_key)
        out = self.transcode(table, side=side, id_column=id_column)
        if recipient is not None:
            return encrypt_table(out, dst, recipient)
        with atomic_path(dst) as tmp:
            pq.write_table(out, tmp)
        return Path(dst)


def _value_counts(column: pa.ChunkedArray) -> list[tuple[str, int]]:
    counts = column.value_counts()
    if isinstance(counts, pa.ChunkedArray):
        counts = counts.combine_chunks()
    return [(v["values"], v["counts"]) for v in counts.to_pylist()]


def read_pivot_codes(path: str | os.PathLike, private_key: PrivateKey | None = None
                     ) -> pa.Table:
    """Statistician role: read a pivot-code file, checking it carries no identity column.

    Args:
        path: Parquet file written by the pivot (encrypted or not).
        private_key: the statistician's private key, when the file is encrypted.

    Returns:
        Arrow table ``row_id, pivot_code, quality, score``.

    Raises:
        DisclosureError: the file has other columns (a NIR or a trait must never reach the
            statistician).

    Examples:
        >>> # codes = read_pivot_codes("codes.parquet.enc", private_key=statistician_key)
    """
    table = read_identities(path, private_key)
    extra = [c for c in table.column_names if c not in OUTPUT_COLUMNS]
    if extra or "pivot_code" not in table.column_names:
        raise DisclosureError(
            f"{Path(path).name} is not a pivot-code file: expected columns "
            f"{list(OUTPUT_COLUMNS)}, found unexpected {extra}; identity columns must never "
            "reach the statistician")
    return table
