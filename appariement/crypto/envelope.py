"""Envelope encryption of files for one recipient: X25519 + HKDF-SHA256 + chunked AES-256-GCM.

A producer encrypts with the recipient's :class:`~appariement.crypto.keys.PublicKey`; only the
matching :class:`~appariement.crypto.keys.PrivateKey` decrypts. Each file gets a fresh ephemeral
X25519 key, so each file has its own AES key.

File format (version 1), all integers big-endian::

    magic      6 bytes  b"APPENC"
    version    1 byte   1
    suite      1 byte   1 = X25519 / HKDF-SHA256 / AES-256-GCM / STREAM
    recipient 16 bytes  fingerprint of the recipient public key (names the key needed)
    ephemeral 32 bytes  ephemeral X25519 public key
    prefix     7 bytes  random nonce prefix
    chunk      4 bytes  plaintext bytes per chunk
    then the chunks: AES-GCM(ciphertext || 16-byte tag) of each plaintext chunk

The AES key is HKDF-SHA256(X25519 shared secret, salt = ephemeral || recipient public key,
info = "appariement/v1/envelope" || header). Chunks follow the STREAM construction (Hoang et al.
2015): nonce = prefix || chunk counter (4 bytes) || final flag (1 byte), and the whole header is
the associated data of every chunk. Hence tampering with any byte, reordering, dropping or
appending chunks, or truncating the file (even at a chunk boundary) fails authentication.

Decryption writes to a temporary file renamed only once every chunk has been verified: no
unauthenticated plaintext ever appears at the destination. Errors are
:class:`~appariement.errors.DecryptionError` and never contain key bytes or plaintext.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .._atomic import atomic_path
from .._log import get_logger
from ..errors import DecryptionError, KeyFileError
from . import _hazmat
from .keys import PrivateKey, PublicKey

__all__ = [
    "encrypt_file", "decrypt_file", "encrypt_bytes", "decrypt_bytes", "encrypt_table",
    "decrypt_table", "read_header", "is_encrypted", "EnvelopeHeader", "MAGIC",
]

_log = get_logger(__name__)

MAGIC = b"APPENC"
_VERSION = 1
_SUITE = 1
_HEADER = struct.Struct(">6sBB16s32s7sI")
_TAG = 16
DEFAULT_CHUNK = 1 << 20
_MIN_CHUNK, _MAX_CHUNK = 1 << 10, 1 << 26


@dataclass(frozen=True)
class EnvelopeHeader:
    """The public header of an encrypted file.

    Attributes:
        version: format version.
        recipient_fingerprint: fingerprint (``pk:...``) of the key that can decrypt it.
        chunk_size: plaintext bytes per chunk.
    """

    version: int
    recipient_fingerprint: str
    chunk_size: int
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


def _file_key(shared: bytes, ephemeral: bytes, recipient: bytes, header: bytes) -> bytes:
    return _hazmat.hkdf_sha256(shared, length=32, salt=ephemeral + recipient,
                               info=b"appariement/v1/envelope" + header)


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


def _encrypt_stream(src: BinaryIO, dst: BinaryIO, recipient: PublicKey, chunk_size: int) -> int:
    if not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK:
        raise ValueError(f"chunk_size must be between {_MIN_CHUNK} and {_MAX_CHUNK} bytes")
    ephemeral_key = X25519PrivateKey.generate()
    ephemeral = PublicKey(ephemeral_key.public_key())._raw()
    prefix = os.urandom(7)
    header = _HEADER.pack(MAGIC, _VERSION, _SUITE, recipient._fingerprint_bytes(), ephemeral,
                          prefix, chunk_size)
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


def _parse_header(raw: bytes, where: str) -> EnvelopeHeader:
    if len(raw) < len(MAGIC) or raw[:len(MAGIC)] != MAGIC:
        raise DecryptionError(f"{where} is not an appariement encrypted file (no APPENC header)")
    if len(raw) < _HEADER.size:
        raise DecryptionError(f"{where} is truncated: its header is incomplete")
    magic, version, suite, fingerprint, ephemeral, prefix, chunk_size = _HEADER.unpack(raw)
    if version != _VERSION or suite != _SUITE:
        raise DecryptionError(f"{where} uses format version {version}/suite {suite}; this "
                              f"version of appariement reads {_VERSION}/{_SUITE} only")
    if not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK:
        raise DecryptionError(f"{where} has a corrupted header (chunk size out of range)")
    return EnvelopeHeader(version, f"pk:{fingerprint.hex()}", chunk_size, ephemeral, prefix,
                          raw)


def _decrypt_stream(src: BinaryIO, dst: BinaryIO, private_key: PrivateKey, where: str) -> int:
    if not isinstance(private_key, PrivateKey):
        raise KeyFileError("decryption needs the recipient's X25519 PrivateKey")
    header = _parse_header(_read_full(src, _HEADER.size), where)
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
        dst.write(plaintext)
        if final:
            return counter + 1
        current = upcoming
        counter += 1


def encrypt_file(src: str | os.PathLike, dst: str | os.PathLike, recipient: PublicKey, *,
                 chunk_size: int = DEFAULT_CHUNK) -> Path:
    """Encrypt a file (e.g. Parquet) for the holder of ``recipient``'s private key.

    Args:
        src: plaintext file.
        dst: encrypted file (written atomically).
        recipient: the recipient's :class:`PublicKey`.
        chunk_size: plaintext bytes per authenticated chunk (1 KiB to 64 MiB).

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
    with open(src, "rb") as fin, atomic_path(dst) as tmp, open(tmp, "wb") as fout:
        chunks = _encrypt_stream(fin, fout, recipient, chunk_size)
    _log.info("encrypted %s for %s (%d chunks)", Path(src).name, recipient.fingerprint, chunks)
    return Path(dst)


def decrypt_file(src: str | os.PathLike, dst: str | os.PathLike,
                 private_key: PrivateKey) -> Path:
    """Decrypt a file written by :func:`encrypt_file`.

    Args:
        src: encrypted file.
        dst: plaintext output, created only if every chunk authenticates.
        private_key: the recipient's :class:`PrivateKey`.

    Returns:
        ``dst`` as a Path.

    Raises:
        DecryptionError: not an encrypted file, wrong key, tampered or truncated file.

    Examples:
        >>> # see encrypt_file
    """
    with open(src, "rb") as fin, atomic_path(dst) as tmp:
        with open(tmp, "wb") as fout:
            chunks = _decrypt_stream(fin, fout, private_key, f"file {Path(src).name}")
    _log.info("decrypted %s (%d chunks)", Path(src).name, chunks)
    return Path(dst)


def encrypt_bytes(data: bytes, recipient: PublicKey, *, chunk_size: int = DEFAULT_CHUNK
                  ) -> bytes:
    """Encrypt bytes in memory (same format as :func:`encrypt_file`).

    Examples:
        >>> from appariement.crypto import generate_keypair
        >>> k = generate_keypair()
        >>> decrypt_bytes(encrypt_bytes(b"x", k.public_key()), k)
        b'x'
    """
    out = io.BytesIO()
    _encrypt_stream(io.BytesIO(data), out, _require_public(recipient), chunk_size)
    return out.getvalue()


def decrypt_bytes(data: bytes, private_key: PrivateKey) -> bytes:
    """Decrypt bytes produced by :func:`encrypt_bytes` (raises :class:`DecryptionError`).

    Examples:
        >>> # see encrypt_bytes
    """
    out = io.BytesIO()
    _decrypt_stream(io.BytesIO(data), out, private_key, "encrypted data")
    return out.getvalue()


def encrypt_table(table: pa.Table, dst: str | os.PathLike, recipient: PublicKey) -> Path:
    """Write an Arrow table as encrypted Parquet, without a plaintext file on disk.

    Args:
        table: Arrow table.
        dst: encrypted file.
        recipient: the recipient's :class:`PublicKey`.

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
    with atomic_path(dst) as tmp, open(tmp, "wb") as fout:
        _encrypt_stream(pa.BufferReader(sink.getvalue()), fout, recipient, DEFAULT_CHUNK)
    _log.info("wrote encrypted table %s (%d rows) for %s", Path(dst).name, table.num_rows,
              recipient.fingerprint)
    return Path(dst)


def decrypt_table(src: str | os.PathLike, private_key: PrivateKey) -> pa.Table:
    """Read encrypted Parquet into memory (the plaintext never touches the disk).

    Examples:
        >>> # see encrypt_table
    """
    out = io.BytesIO()
    with open(src, "rb") as fin:
        _decrypt_stream(fin, out, private_key, f"file {Path(src).name}")
    try:
        return pq.read_table(pa.BufferReader(out.getvalue()))
    except pa.ArrowInvalid:
        raise DecryptionError(f"file {Path(src).name} decrypted but is not a Parquet table"
                              ) from None


def read_header(path: str | os.PathLike) -> EnvelopeHeader:
    """Read the public header of an encrypted file (which key it needs, chunk size).

    Examples:
        >>> # read_header("identities.parquet.enc").recipient_fingerprint
    """
    with open(path, "rb") as fin:
        return _parse_header(_read_full(fin, _HEADER.size), f"file {Path(path).name}")


def is_encrypted(path: str | os.PathLike) -> bool:
    """True when the file starts with the envelope magic bytes.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"PAR1")
        >>> is_encrypted(p)
        False
    """
    with open(path, "rb") as fin:
        return fin.read(len(MAGIC)) == MAGIC
