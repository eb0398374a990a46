"""Raw primitives, fenced off (the pyca ``hazmat`` idea): HKDF, batched HMAC-SHA256, base32,
X25519 + AES-256-GCM.

Nothing here is public API. Public modules wrap these in key objects and safe defaults.
Functions take and return raw bytes: never log their arguments or results.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import deque
from itertools import repeat
from typing import Iterable

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SHA256_BLOCK = 64
#: RFC 4648 base32 alphabet (no padding: outputs have a fixed length)
_B32_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", dtype=np.uint8)


def hkdf_sha256(ikm: bytes, *, length: int = 32, salt: bytes | None = None,
                info: bytes = b"") -> bytes:
    """HKDF-SHA256 (RFC 5869) from the ``cryptography`` package."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def encode_context(*parts: str) -> bytes:
    """Unambiguous encoding of context strings (length-prefixed UTF-8), for HKDF ``info``.

    ``("ab", "c")`` and ``("a", "bc")`` must not give the same bytes.
    """
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """One-shot HMAC-SHA256 (reference implementation, used by tests and small inputs)."""
    return hmac.digest(key, message, "sha256")


class BatchHmacSha256:
    """HMAC-SHA256 of many short messages under one key, at C speed per value.

    HMAC(K, m) = H((K' ^ opad) || H((K' ^ ipad) || m)). The two pads are absorbed once into
    pre-keyed ``hashlib`` objects; each message then costs two ``copy()`` and two small updates,
    about three times faster than ``hmac.new``/``hmac.digest`` per value (measured in
    ``benchmarks/bench_hmac.py``). Results are identical to RFC 2104 HMAC (tested against
    RFC 4231 vectors).
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes):
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def __repr__(self) -> str:
        return "BatchHmacSha256(<keyed>)"

    def __reduce__(self):
        raise TypeError("keyed HMAC objects cannot be pickled")

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def digest_many(self, messages: Iterable[bytes]) -> bytes:
        """Concatenated 32-byte digests of ``messages``, in order.

        Messages go through in chunks of ``_CHUNK``: for each chunk, ``map`` calls the C methods
        of the hash objects directly (copy, update, digest), with no Python frame per value.
        Measured ~7 % faster than a per-value closure; larger chunks lose the gain to memory.
        """
        inner, outer = self._inner, self._outer
        copy, update, digest = _HASH.copy, _HASH.update, _HASH.digest
        messages = messages if isinstance(messages, list) else list(messages)
        pieces = []
        for start in range(0, len(messages), _CHUNK):
            chunk = messages[start:start + _CHUNK]
            inners = list(map(copy, repeat(inner, len(chunk))))
            deque(map(update, inners, chunk), maxlen=0)
            outers = list(map(copy, repeat(outer, len(chunk))))
            deque(map(update, outers, map(digest, inners)), maxlen=0)
            pieces.append(b"".join(map(digest, outers)))
        return b"".join(pieces)


#: type of hashlib's SHA-256 objects (methods called unbound in digest_many)
_HASH = type(hashlib.sha256())
#: messages per chunk in BatchHmacSha256.digest_many (a chunk's hash objects stay in cache)
_CHUNK = 1024
#: two base32 characters per 10-bit value, as little-endian uint16 (first character low byte)
_B32_PAIRS = (_B32_ALPHABET[:, None].astype("<u2")
              | (_B32_ALPHABET[None, :].astype("<u2") << 8)).ravel()


def base32_fixed(digests: bytes, n: int, length: int, digest_size: int = 32) -> np.ndarray:
    """Base32 (RFC 4648 alphabet) of the first ``length`` characters of each digest.

    Args:
        digests: ``n`` concatenated digests of ``digest_size`` bytes.
        n: number of digests.
        length: characters kept per digest (at most 32, i.e. 160 bits).
        digest_size: bytes per digest.

    Returns:
        ``uint8`` array of shape ``(n, length)`` holding ASCII characters.
    """
    if not 1 <= length <= 32:
        raise ValueError("length must be between 1 and 32")
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(n, digest_size)
    # Every 5 bytes (40 bits) make 8 characters: read each 5-byte group as a 40-bit big-endian
    # integer (bytes reversed into a little-endian 64-bit word), cut it into four 10-bit values
    # and look each up in a table of character pairs (1,024 entries, cache-resident); all
    # vectorised, no per-value Python.
    groups = -(-length // 8)
    words = np.zeros((n, groups, 8), dtype=np.uint8)
    words[..., 4::-1] = raw[:, :5 * groups].reshape(n, groups, 5)
    values = words.view("<u8")[..., 0]
    pairs = np.empty((n, groups, 4), dtype="<u2")
    for j in range(4):
        np.take(_B32_PAIRS, (values >> np.uint64(30 - 10 * j)) & np.uint64(1023),
                out=pairs[..., j])
    return np.ascontiguousarray(pairs.view(np.uint8).reshape(n, 8 * groups)[:, :length])


# --- envelope encryption primitives -------------------------------------------------------

def aesgcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def aesgcm_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Raises ``cryptography.exceptions.InvalidTag`` when authentication fails."""
    return AESGCM(key).decrypt(nonce, ciphertext, aad)
