"""Envelope encryption of files for one recipient: X25519 + HKDF-SHA256 + chunked AES-256-GCM.

A producer encrypts with the recipient's :class:`~appariement.crypto.keys.PublicKey`; only the
matching :class:`~appariement.crypto.keys.PrivateKey` decrypts. Each file gets a fresh ephemeral
X25519 key, so each file has its own AES key.

File format (version 2), all integers big-endian::

    magic      6 bytes  b"APPENC"
    version    1 byte   2
    suite      1 byte   1 = X25519 / HKDF-SHA256 / AES-256-GCM / STREAM
    recipient 16 bytes  fingerprint of the recipient public key (names the key needed)
    ephemeral 32 bytes  ephemeral X25519 public key
    prefix     7 bytes  random nonce prefix
    chunk      4 bytes  plaintext bytes per chunk
    context    2 bytes  length of the context that follows (at most 512)
    the context: five fields, each 1 length byte + ASCII ([a-z0-9:_-], at most 64 bytes), in
        this order: project fingerprint, content kind, side, sender role, recipient role
    then the chunks: AES-GCM(ciphertext || 16-byte tag) of each plaintext chunk

The **context** (:class:`EnvelopeContext`) says what the file is and for whom: the project it
belongs to (a public fingerprint of the project name, :func:`project_fingerprint`), what it holds
(e.g. ``identities``, ``pivot-codes``), which side of the linkage it comes from (``platform`` /
``source``), who made it and for which role (``producer`` -> ``pivot``, ``pivot`` ->
``statistician``). Files written without a context get the generic one (kind ``file``, other
fields empty).

The AES key is HKDF-SHA256(X25519 shared secret, salt = ephemeral || recipient public key,
info = "appariement/v2/envelope" || header). Chunks follow the STREAM construction (Hoang et al.
2015): nonce = prefix || chunk counter (4 bytes) || final flag (1 byte), and the whole header,
context included, is the associated data of every chunk. Hence tampering with any byte (of the
header, the context or the body), reordering, dropping or appending chunks, or truncating the
file (even at a chunk boundary) fails authentication.

Decrypting with ``expect=`` (what the caller is waiting for) compares the context once the first
chunk has authenticated it, before any plaintext is handed over: a file of another project, the
other side, another kind or made by another role is refused with a message naming the mismatch
(``expected side "platform", file says "source"``) — so an authentic file cannot be replayed
where another is expected. Version-1 files (no context) are refused with a message asking to
re-create them.

Decryption writes to a temporary file renamed only once every chunk has been verified: no
unauthenticated plaintext ever appears at the destination. Errors are
:class:`~appariement.errors.DecryptionError` and never contain key bytes or plaintext.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .._atomic import atomic_path
from .._log import get_logger
from ..errors import DecryptionError, InputError, KeyFileError
from . import _hazmat
from .keys import PrivateKey, PublicKey

__all__ = [
    "encrypt_file", "decrypt_file", "encrypt_bytes", "decrypt_bytes", "encrypt_table",
    "decrypt_table", "read_header", "is_encrypted", "EnvelopeHeader", "EnvelopeContext",
    "project_fingerprint", "MAGIC",
]

_log = get_logger(__name__)

MAGIC = b"APPENC"
_VERSION = 2
_SUITE = 1
#: the fixed part of the header; the context (``context_length`` bytes) follows it
_HEADER = struct.Struct(">6sBB16s32s7sIH")
_TAG = 16
DEFAULT_CHUNK = 1 << 20
_MIN_CHUNK, _MAX_CHUNK = 1 << 10, 1 << 26
_MAX_CONTEXT = 512
_MAX_FIELD = 64
#: context values are short ASCII tokens: they are printed in error messages, so they can never
#: carry free text (a name, a NIR) even if a caller tried to put one there
_FIELD_RE = re.compile(r"[a-z0-9:_-]*")


def project_fingerprint(project: str) -> str:
    """Public fingerprint of a project name, as bound in envelope headers (``prj:<32 hex>``).

    It identifies the project without printing its name (a mistyped or pasted name never ends up
    in a header or a message). It is not secret: anyone who knows the name can compute it.

    Examples:
        >>> project_fingerprint("iae").startswith("prj:") and len(project_fingerprint("iae"))
        36
        >>> project_fingerprint("iae") == project_fingerprint("iae2")
        False
    """
    if not isinstance(project, str) or not project:
        raise ValueError("project must be a non-empty string")
    digest = hashlib.sha256(b"appariement/v2/project\0" + project.encode("utf-8")).hexdigest()
    return f"prj:{digest[:32]}"


@dataclass(frozen=True)
class EnvelopeContext:
    """What an encrypted file holds and for whom; bound (authenticated) in its header.

    Attributes:
        project: project fingerprint (:func:`project_fingerprint`), or ``""``.
        kind: content kind, e.g. ``"identities"``, ``"pivot-codes"``; ``"file"`` when generic.
        side: ``"platform"``, ``"source"`` or ``""``.
        sender: role that made the file, e.g. ``"producer"``, ``"pivot"``; or ``""``.
        recipient: role the file is for, e.g. ``"pivot"``, ``"statistician"``; or ``""``.

    Examples:
        >>> ctx = EnvelopeContext.for_project("iae", kind="identities", side="platform",
        ...                                   sender="producer", recipient="pivot")
        >>> ctx.side, ctx.project == project_fingerprint("iae")
        ('platform', True)
    """

    project: str = ""
    kind: str = "file"
    side: str = ""
    sender: str = ""
    recipient: str = ""

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if (not isinstance(value, str) or len(value) > _MAX_FIELD
                    or not _FIELD_RE.fullmatch(value)):
                raise ValueError(f"envelope context field {f.name!r} must be at most "
                                 f"{_MAX_FIELD} characters among a-z 0-9 : _ -")

    @classmethod
    def for_project(cls, project: str, *, kind: str, side: str = "", sender: str = "",
                    recipient: str = "") -> "EnvelopeContext":
        """The context of a file of ``project`` (given by name; the header holds its
        fingerprint)."""
        return cls(project_fingerprint(project), kind, side, sender, recipient)

    def _encode(self) -> bytes:
        out = bytearray()
        for f in fields(self):
            raw = getattr(self, f.name).encode("ascii")
            out += bytes([len(raw)]) + raw
        return bytes(out)

    @classmethod
    def _decode(cls, raw: bytes) -> "EnvelopeContext":
        """Parse the context bytes; ValueError when they are malformed."""
        values, pos = [], 0
        for _ in fields(cls):
            if pos >= len(raw):
                raise ValueError("context too short")
            n = raw[pos]
            value = raw[pos + 1:pos + 1 + n]
            if len(value) != n:
                raise ValueError("context field truncated")
            values.append(value.decode("ascii"))
            pos += 1 + n
        if pos != len(raw):
            raise ValueError("context too long")
        return cls(*values)


#: labels of the context fields in mismatch messages
_FIELD_LABELS = {"project": "project", "kind": "content", "side": "side",
                 "sender": "made by", "recipient": "made for"}
_GENERIC = EnvelopeContext()


@dataclass(frozen=True)
class EnvelopeHeader:
    """The public header of an encrypted file.

    :func:`read_header` reads it without authenticating it; decryption authenticates it.

    Attributes:
        version: format version.
        recipient_fingerprint: fingerprint (``pk:...``) of the key that can decrypt it.
        chunk_size: plaintext bytes per chunk.
        context: what the file holds and for whom (:class:`EnvelopeContext`).
    """

    version: int
    recipient_fingerprint: str
    chunk_size: int
    context: EnvelopeContext
    _ephemeral: bytes
    _prefix: bytes
    _raw: bytes


def _require_public(key: PublicKey) -> PublicKey:
    if isinstance(key, PrivateKey):
        return key.public_key()
    if not isinstance(key, PublicKey):
        raise KeyFileError("encryption needs the recipient's X25519 PublicKey "
                           "(`appariement keygen --type x25519` writes one)")
    return key


def _require_context(context: EnvelopeContext | None) -> EnvelopeContext:
    if context is None:
        return _GENERIC
    if not isinstance(context, EnvelopeContext):
        raise TypeError("context must be an EnvelopeContext")
    return context


def _file_key(shared: bytes, ephemeral: bytes, recipient: bytes, header: bytes) -> bytes:
    return _hazmat.hkdf_sha256(shared, length=32, salt=ephemeral + recipient,
                               info=b"appariement/v2/envelope" + header)


def _nonce(prefix: bytes, counter: int, final: bool) -> bytes:
    if counter >= 1 << 32:
        raise DecryptionError("file has too many chunks for this format (over 2^32)")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if final else b"\x00")


def _read_full(stream: BinaryIO, n: int) -> bytes:
    """Read ``n`` bytes, or fewer only at end of stream (pipes may return short reads)."""
    parts = []
    remaining = n
    while remaining:
        block = stream.read(remaining)
        if not block:
            break
        parts.append(block)
        remaining -= len(block)
    return b"".join(parts)


def _encrypt_stream(src: BinaryIO, dst: BinaryIO, recipient: PublicKey, chunk_size: int,
                    context: EnvelopeContext) -> int:
    if not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK:
        raise ValueError(f"chunk_size must be between {_MIN_CHUNK} and {_MAX_CHUNK} bytes")
    ephemeral_key = X25519PrivateKey.generate()
    ephemeral = PublicKey(ephemeral_key.public_key())._raw()
    prefix = os.urandom(7)
    encoded = context._encode()
    header = _HEADER.pack(MAGIC, _VERSION, _SUITE, recipient._fingerprint_bytes(), ephemeral,
                          prefix, chunk_size, len(encoded)) + encoded
    shared = ephemeral_key.exchange(recipient._key)
    key = _file_key(shared, ephemeral, recipient._raw(), header)
    dst.write(header)
    counter = 0
    current = _read_full(src, chunk_size)
    while True:
        upcoming = _read_full(src, chunk_size)
        final = not upcoming
        dst.write(_hazmat.aesgcm_encrypt(key, _nonce(prefix, counter, final), current, header))
        if final:
            return counter + 1
        current = upcoming
        counter += 1


def _read_header(src: BinaryIO, where: str) -> EnvelopeHeader:
    """Read and parse the header (fixed part, then the context) from the start of ``src``."""
    start = _read_full(src, len(MAGIC) + 1)
    if not start:
        raise DecryptionError(f"{where} is empty: it is not an appariement encrypted file")
    if not MAGIC.startswith(start[:len(MAGIC)]):
        raise DecryptionError(
            f"{where} is not an appariement encrypted file (no APPENC header): a plain file "
            "cannot stand in for an encrypted one; ask its sender for the encrypted file")
    if len(start) <= len(MAGIC):
        raise DecryptionError(f"{where} is truncated: its header is incomplete")
    version = start[len(MAGIC)]
    if version == 1:
        raise DecryptionError(
            f"{where} was made by an older version of appariement (envelope format 1, whose "
            "header binds neither project, side nor content): re-create it with this version")
    if version != _VERSION:
        raise DecryptionError(
            f"{where} uses envelope format version {version}, unknown to this version of "
            f"appariement (it reads version {_VERSION}): upgrade appariement, or re-create the "
            "file")
    fixed = start + _read_full(src, _HEADER.size - len(start))
    if len(fixed) < _HEADER.size:
        raise DecryptionError(f"{where} is truncated: its header is incomplete")
    _, _, suite, fingerprint, ephemeral, prefix, chunk_size, n_context = _HEADER.unpack(fixed)
    if suite != _SUITE:
        raise DecryptionError(f"{where} uses cipher suite {suite}; this version of appariement "
                              f"reads suite {_SUITE} only")
    if not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK:
        raise DecryptionError(f"{where} has a corrupted header (chunk size out of range)")
    if n_context > _MAX_CONTEXT:
        raise DecryptionError(f"{where} has a corrupted header (context length out of range)")
    encoded = _read_full(src, n_context)
    if len(encoded) < n_context:
        raise DecryptionError(f"{where} is truncated: its header is incomplete")
    try:
        context = EnvelopeContext._decode(encoded)
    except (ValueError, UnicodeDecodeError):
        raise DecryptionError(f"{where} has a corrupted header (unreadable context)") from None
    return EnvelopeHeader(version, f"pk:{fingerprint.hex()}", chunk_size, context, ephemeral,
                          prefix, fixed + encoded)


def _check_context(found: EnvelopeContext, expect: EnvelopeContext | None, where: str) -> None:
    """Refuse an authentic file that is not the one the caller expects (replay elsewhere)."""
    if expect is None:
        return
    mismatches = [f'expected {_FIELD_LABELS[f.name]} "{getattr(expect, f.name)}", file says '
                  f'"{getattr(found, f.name)}"'
                  for f in fields(EnvelopeContext)
                  if getattr(found, f.name) != getattr(expect, f.name)]
    if mismatches:
        raise DecryptionError(
            f"{where} is authentic but not the file expected here: {'; '.join(mismatches)}. "
            "A file is accepted only for the project, side, content and roles it was made for "
            "(nothing was written)")


def _decrypt_stream(src: BinaryIO, dst: BinaryIO, private_key: PrivateKey, where: str,
                    expect: EnvelopeContext | None = None) -> int:
    if not isinstance(private_key, PrivateKey):
        raise KeyFileError("decryption needs the recipient's X25519 PrivateKey")
    header = _read_header(src, where)
    if header.recipient_fingerprint != private_key.fingerprint:
        raise DecryptionError(
            f"{where} was encrypted for key {header.recipient_fingerprint}, but the private key "
            f"given is {private_key.fingerprint}: use the matching private key")
    try:
        shared = private_key._key.exchange(X25519PublicKey.from_public_bytes(header._ephemeral))
    except ValueError:
        raise DecryptionError(f"{where} has a corrupted header (invalid ephemeral key)") from None
    key = _file_key(shared, header._ephemeral, private_key.public_key()._raw(), header._raw)
    block = header.chunk_size + _TAG
    counter = 0
    current = _read_full(src, block)
    while True:
        upcoming = _read_full(src, block)
        final = not upcoming
        if len(current) < _TAG:
            raise DecryptionError(f"{where} is truncated (chunk {counter} is incomplete)")
        try:
            plaintext = _hazmat.aesgcm_decrypt(key, _nonce(header._prefix, counter, final),
                                               current, header._raw)
        except InvalidTag:
            raise DecryptionError(
                f"{where} failed authentication at chunk {counter}: the file was tampered "
                "with, corrupted or truncated (nothing was written)") from None
        if counter == 0:
            # the header (context included) is the associated data of chunk 0: from here on
            # the context is authentic, so a mismatch message tells the truth about the file
            _check_context(header.context, expect, where)
        dst.write(plaintext)
        if final:
            return counter + 1
        current = upcoming
        counter += 1


def encrypt_file(src: str | os.PathLike, dst: str | os.PathLike, recipient: PublicKey, *,
                 chunk_size: int = DEFAULT_CHUNK, context: EnvelopeContext | None = None
                 ) -> Path:
    """Encrypt a file (e.g. Parquet) for the holder of ``recipient``'s private key.

    Args:
        src: plaintext file.
        dst: encrypted file (written atomically).
        recipient: the recipient's :class:`PublicKey`.
        chunk_size: plaintext bytes per authenticated chunk (1 KiB to 64 MiB).
        context: what the file holds and for whom, bound in the header (default: generic).

    Returns:
        ``dst`` as a Path.

    Examples:
        >>> import tempfile, pathlib
        >>> from appariement.crypto import generate_keypair
        >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "a.txt").write_bytes(b"data")
        4
        >>> pivot = generate_keypair()
        >>> _ = encrypt_file(d / "a.txt", d / "a.enc", pivot.public_key())
        >>> _ = decrypt_file(d / "a.enc", d / "b.txt", pivot)
        >>> (d / "b.txt").read_bytes()
        b'data'
    """
    recipient = _require_public(recipient)
    context = _require_context(context)
    with _open_input(src, "file to encrypt") as fin, atomic_path(dst) as tmp, \
            open(tmp, "wb") as fout:
        chunks = _encrypt_stream(fin, fout, recipient, chunk_size, context)
    _log.info("encrypted %s for %s (%d chunks)", Path(src).name, recipient.fingerprint, chunks)
    return Path(dst)


def decrypt_file(src: str | os.PathLike, dst: str | os.PathLike, private_key: PrivateKey, *,
                 expect: EnvelopeContext | None = None) -> Path:
    """Decrypt a file written by :func:`encrypt_file`.

    Args:
        src: encrypted file.
        dst: plaintext output, created only if every chunk authenticates.
        private_key: the recipient's :class:`PrivateKey`.
        expect: the context the file must carry (project, kind, side, roles); ``None`` accepts
            any context.

    Returns:
        ``dst`` as a Path.

    Raises:
        DecryptionError: not an encrypted file, wrong key, tampered or truncated file, older
            format, or a context other than ``expect``.

    See :func:`encrypt_file` for an example.
    """
    with _open_input(src) as fin, atomic_path(dst) as tmp:
        with open(tmp, "wb") as fout:
            chunks = _decrypt_stream(fin, fout, private_key, f"file {Path(src).name}", expect)
    _log.info("decrypted %s (%d chunks)", Path(src).name, chunks)
    return Path(dst)


def encrypt_bytes(data: bytes, recipient: PublicKey, *, chunk_size: int = DEFAULT_CHUNK,
                  context: EnvelopeContext | None = None) -> bytes:
    """Encrypt bytes in memory (same format as :func:`encrypt_file`).

    Examples:
        >>> from appariement.crypto import generate_keypair
        >>> k = generate_keypair()
        >>> decrypt_bytes(encrypt_bytes(b"x", k.public_key()), k)
        b'x'
    """
    out = io.BytesIO()
    _encrypt_stream(io.BytesIO(data), out, _require_public(recipient), chunk_size,
                    _require_context(context))
    return out.getvalue()


def decrypt_bytes(data: bytes, private_key: PrivateKey, *,
                  expect: EnvelopeContext | None = None) -> bytes:
    """Decrypt bytes produced by :func:`encrypt_bytes` (raises :class:`DecryptionError`).

    See :func:`encrypt_bytes` for an example.
    """
    out = io.BytesIO()
    _decrypt_stream(io.BytesIO(data), out, private_key, "encrypted data", expect)
    return out.getvalue()


def encrypt_table(table: pa.Table, dst: str | os.PathLike, recipient: PublicKey, *,
                  context: EnvelopeContext | None = None) -> Path:
    """Write an Arrow table as encrypted Parquet, without a plaintext file on disk.

    Args:
        table: Arrow table.
        dst: encrypted file.
        recipient: the recipient's :class:`PublicKey`.
        context: what the file holds and for whom, bound in the header (default: generic).

    Returns:
        ``dst`` as a Path.

    Examples:
        >>> import tempfile, pathlib
        >>> from appariement.crypto import generate_keypair
        >>> k = generate_keypair(); p = pathlib.Path(tempfile.mkdtemp()) / "t.parquet.enc"
        >>> _ = encrypt_table(pa.table({"a": [1]}), p, k.public_key())
        >>> decrypt_table(p, k).to_pylist()
        [{'a': 1}]
    """
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    recipient = _require_public(recipient)
    context = _require_context(context)
    with atomic_path(dst) as tmp, open(tmp, "wb") as fout:
        _encrypt_stream(pa.BufferReader(sink.getvalue()), fout, recipient, DEFAULT_CHUNK,
                        context)
    _log.info("wrote encrypted table %s (%d rows, %s) for %s", Path(dst).name, table.num_rows,
              context.kind, recipient.fingerprint)
    return Path(dst)


def decrypt_table(src: str | os.PathLike, private_key: PrivateKey, *,
                  expect: EnvelopeContext | None = None) -> pa.Table:
    """Read encrypted Parquet into memory (the plaintext never touches the disk).

    Args:
        src: encrypted file from :func:`encrypt_table`.
        private_key: the recipient's :class:`PrivateKey`.
        expect: the context the file must carry; ``None`` accepts any context.

    See :func:`encrypt_table` for an example.
    """
    out = io.BytesIO()
    with _open_input(src) as fin:
        _decrypt_stream(fin, out, private_key, f"file {Path(src).name}", expect)
    try:
        return pq.read_table(pa.BufferReader(out.getvalue()))
    except (pa.ArrowInvalid, OSError):
        raise DecryptionError(f"file {Path(src).name} decrypted but is not a Parquet table"
                              ) from None


def read_header(path: str | os.PathLike) -> EnvelopeHeader:
    """Read the public header of an encrypted file (which key it needs, its context).

    The header is *not* authenticated here (decryption does that): use it to pick the key, not
    to trust the file.

    Examples:
        >>> import tempfile, pathlib
        >>> from appariement.crypto import generate_keypair
        >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "a.txt").write_bytes(b"data")
        >>> pivot = generate_keypair()
        >>> _ = encrypt_file(d / "a.txt", d / "a.enc", pivot.public_key())
        >>> read_header(d / "a.enc").recipient_fingerprint == pivot.public_key().fingerprint
        True
    """
    with _open_input(path) as fin:
        return _read_header(fin, f"file {Path(path).name}")


def is_encrypted(path: str | os.PathLike) -> bool:
    """True when the file starts with the envelope magic bytes.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"PAR1")
        >>> is_encrypted(p)
        False

    Raises:
        InputError: ``path`` does not exist or is a folder.
    """
    with _open_input(path, "input file") as fin:
        return fin.read(len(MAGIC)) == MAGIC


def _open_input(path: str | os.PathLike, what: str = "encrypted file") -> BinaryIO:
    """Open a file to read, or raise :class:`InputError` naming it when it is missing or a
    folder (a permission refusal stays an :class:`OSError`: the system's, exit code 7)."""
    if not Path(path).is_file():
        state = "is a folder, not a file" if Path(path).is_dir() else "does not exist"
        raise InputError(f"{what} {Path(path).name} {state}; check the path")
    return open(path, "rb")
