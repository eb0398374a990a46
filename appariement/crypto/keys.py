"""Keys as objects: generate, save, load, fingerprint, derive per project and purpose.

Two kinds of keys:

- :class:`SecretKey` — a 256-bit symmetric secret. It keys pseudonyms (HMAC) and Bloom-filter
  encodings. Never used directly: :meth:`SecretKey.derive` gives one sub-key per project and per
  purpose (HKDF-SHA256), so codes of two projects cannot be joined.
- :class:`PrivateKey` / :class:`PublicKey` — an X25519 key pair. A producer encrypts identity
  files for the holder of the private key (the pivot authority, or a statistician receiving
  pivot codes) with :mod:`appariement.crypto.envelope`.

A key's ``repr`` shows only its public fingerprint; key objects cannot be pickled, and no
function of this module logs or prints key bytes. Key files:

- secret key: PEM-like armour ``-----BEGIN APPARIEMENT SECRET KEY-----`` around base64;
- private key: PKCS#8 PEM, public key: SubjectPublicKeyInfo PEM (readable by OpenSSL).

On POSIX, :func:`load_key` refuses a secret or private key file that group or others may read
or write (``chmod 600`` fixes it). On Windows, POSIX modes do not exist: protect the key folder
with NTFS ACLs (see SECURITY.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .._atomic import write_bytes
from .._log import get_logger
from ..errors import KeyFileError
from . import _hazmat

__all__ = [
    "SecretKey", "PrivateKey", "PublicKey", "generate_key", "generate_keypair",
    "save_key", "load_key", "KEY_ENV_VAR",
]

_log = get_logger(__name__)

#: default environment variable read by the command line when no key file is given
KEY_ENV_VAR = "APPARIEMENT_KEY"
_SECRET_BYTES = 32
_SECRET_BEGIN = "-----BEGIN APPARIEMENT SECRET KEY-----"
_SECRET_END = "-----END APPARIEMENT SECRET KEY-----"
_HKDF_SALT = b"appariement/v1/derive"


class SecretKey:
    """A symmetric secret key (at least 256 bits).

    Create one with :func:`generate_key` or :func:`load_key`; derive sub-keys with
    :meth:`derive`. Equality is constant-time; ``repr`` shows only the fingerprint.

    Attributes:
        fingerprint: public identifier ``sk:<32 hex>`` (SHA-256 of the key, truncated), safe to
            write in manifests.
        project: project of a derived key (None for a master key).
        purpose: purpose of a derived key (None for a master key).

    Examples:
        >>> master = generate_key()
        >>> k = master.derive(project="iae-2025", purpose="pivot")
        >>> k.fingerprint.startswith("sk:") and k != master
        True
    """

    __slots__ = ("_material", "fingerprint", "project", "purpose")

    def __init__(self, material: bytes, *, project: str | None = None,
                 purpose: str | None = None):
        if not isinstance(material, (bytes, bytearray)) or len(material) < _SECRET_BYTES:
            raise KeyFileError(
                f"a secret key must be at least {_SECRET_BYTES} bytes; generate one with "
                "`appariement keygen --type secret`")
        self._material = bytes(material)
        self.project = project
        self.purpose = purpose
        digest = hashlib.sha256(b"appariement/v1/fingerprint\0" + self._material).hexdigest()
        self.fingerprint = f"sk:{digest[:32]}"

    def derive(self, *, project: str, purpose: str) -> "SecretKey":
        """Derive the sub-key of a project and purpose (HKDF-SHA256).

        Args:
            project: project name (e.g. ``"iae-2025"``); sub-keys of two projects are unrelated.
            purpose: what the sub-key is for (``"pivot"``, ``"pseudonym"``, ``"bloom"`` ...).

        Returns:
            A new :class:`SecretKey` carrying ``project`` and ``purpose``.

        Examples:
            >>> m = generate_key()
            >>> m.derive(project="a", purpose="pivot") == m.derive(project="a", purpose="pivot")
            True
            >>> m.derive(project="a", purpose="pivot") == m.derive(project="b", purpose="pivot")
            False
        """
        for name, value in (("project", project), ("purpose", purpose)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        if self.project is not None:
            raise KeyFileError(
                f"key {self.fingerprint} is already derived (project={self.project!r}, "
                f"purpose={self.purpose!r}); derive from the master key instead")
        info = _hazmat.encode_context("appariement", "derive", project, purpose)
        material = _hazmat.hkdf_sha256(self._material, length=_SECRET_BYTES, salt=_HKDF_SALT,
                                       info=info)
        return SecretKey(material, project=project, purpose=purpose)

    def _raw(self) -> bytes:
        """Key bytes, for the primitives of this package only."""
        return self._material

    def __repr__(self) -> str:
        extra = ""
        if self.project is not None:
            extra = f", project={self.project!r}, purpose={self.purpose!r}"
        return f"SecretKey(fingerprint={self.fingerprint!r}{extra})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretKey):
            return NotImplemented
        return hmac.compare_digest(self._material, other._material)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __reduce__(self):
        raise TypeError("keys cannot be pickled; save them with save_key()")


class PublicKey:
    """An X25519 public key: anyone may encrypt files for the matching :class:`PrivateKey`.

    Attributes:
        fingerprint: ``pk:<32 hex>`` (SHA-256 of the raw public key, truncated).

    Examples:
        >>> priv = generate_keypair()
        >>> priv.public_key().fingerprint == priv.fingerprint
        True
    """

    __slots__ = ("_key", "fingerprint")

    def __init__(self, key: X25519PublicKey):
        self._key = key
        self.fingerprint = f"pk:{self._fingerprint_bytes().hex()}"

    def _raw(self) -> bytes:
        return self._key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def _fingerprint_bytes(self) -> bytes:
        return hashlib.sha256(b"appariement/v1/x25519\0" + self._raw()).digest()[:16]

    def __repr__(self) -> str:
        return f"PublicKey(fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self._raw() == other._raw()

    def __hash__(self) -> int:
        return hash(self.fingerprint)


class PrivateKey:
    """An X25519 private key: decrypts files encrypted for its :class:`PublicKey`.

    Attributes:
        fingerprint: the fingerprint of its public key (so a file header names the key needed).

    Examples:
        >>> priv = generate_keypair()
        >>> repr(priv).startswith("PrivateKey(fingerprint='pk:")
        True
    """

    __slots__ = ("_key", "fingerprint")

    def __init__(self, key: X25519PrivateKey):
        self._key = key
        self.fingerprint = self.public_key().fingerprint

    def public_key(self) -> PublicKey:
        """The matching public key (to give to producers)."""
        return PublicKey(self._key.public_key())

    def __repr__(self) -> str:
        return f"PrivateKey(fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PrivateKey):
            return NotImplemented
        return self.public_key() == other.public_key()

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __reduce__(self):
        raise TypeError("keys cannot be pickled; save them with save_key()")


AnyKey = SecretKey | PrivateKey | PublicKey


def generate_key() -> SecretKey:
    """A new random 256-bit master secret key (from the OS CSPRNG).

    Returns:
        :class:`SecretKey`.

    Examples:
        >>> generate_key() != generate_key()
        True
    """
    return SecretKey(os.urandom(_SECRET_BYTES))


def generate_keypair() -> PrivateKey:
    """A new X25519 key pair; the public half is ``.public_key()``.

    Returns:
        :class:`PrivateKey`.

    Examples:
        >>> pub = generate_keypair().public_key()
    """
    return PrivateKey(X25519PrivateKey.generate())


def _serialise(key: AnyKey) -> bytes:
    if isinstance(key, SecretKey):
        if key.project is not None:
            raise KeyFileError(
                f"refusing to save derived key {key.fingerprint}: save the master key and "
                "derive again (derivation is deterministic)")
        body = base64.encodebytes(key._raw()).decode("ascii").strip()
        return f"{_SECRET_BEGIN}\n{body}\n{_SECRET_END}\n".encode("ascii")
    if isinstance(key, PrivateKey):
        return key._key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    if isinstance(key, PublicKey):
        return key._key.public_bytes(serialization.Encoding.PEM,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    raise TypeError("save_key expects a SecretKey, PrivateKey or PublicKey")


def save_key(key: AnyKey, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a key file readable by its owner only (mode 0600 on POSIX).

    Args:
        key: a master :class:`SecretKey`, a :class:`PrivateKey` or a :class:`PublicKey`.
        path: target file; written atomically.
        overwrite: replace an existing file (off by default: losing a key loses the ability to
            reproduce every code made with it).

    Returns:
        The path written.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "project.key"
        >>> k = generate_key()
        >>> _ = save_key(k, p)
        >>> load_key(p) == k
        True
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise KeyFileError(f"key file {path} already exists; refusing to overwrite it "
                           "(pass overwrite=True / --force if you really mean to)")
    data = _serialise(key)
    # _atomic uses mkstemp, which creates the temporary file with mode 0600 before writing.
    write_bytes(path, data)
    if os.name == "posix":
        # a public key is meant to be shared; everything else stays owner-only
        os.chmod(path, 0o644 if isinstance(key, PublicKey) else 0o600)
    _log.info("wrote %s to %s", type(key).__name__, path)
    return path


def _parse(text: str, where: str) -> AnyKey:
    text = text.strip()
    if text.startswith(_SECRET_BEGIN):
        if not text.endswith(_SECRET_END):
            raise KeyFileError(f"{where}: truncated secret key (no END line)")
        body = text[len(_SECRET_BEGIN):-len(_SECRET_END)]
        return SecretKey(_b64decode(body, where))
    if text.startswith("-----BEGIN PRIVATE KEY-----"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError):
            raise KeyFileError(f"{where}: malformed private key PEM") from None
        if not isinstance(key, X25519PrivateKey):
            raise KeyFileError(f"{where}: private key is not X25519 (only X25519 is supported)")
        return PrivateKey(key)
    if text.startswith("-----BEGIN PUBLIC KEY-----"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, TypeError):
            raise KeyFileError(f"{where}: malformed public key PEM") from None
        if not isinstance(key, X25519PublicKey):
            raise KeyFileError(f"{where}: public key is not X25519 (only X25519 is supported)")
        return PublicKey(key)
    if text and "-----" not in text:
        # bare base64 of a secret key (convenient in an environment variable)
        return SecretKey(_b64decode(text, where))
    raise KeyFileError(f"{where}: not an appariement key (expected a secret key, or an X25519 "
                       "private/public key in PEM)")


def _b64decode(body: str, where: str) -> bytes:
    try:
        raw = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{where}: key is not valid base64") from None
    if len(raw) < _SECRET_BYTES:
        raise KeyFileError(f"{where}: secret key is {len(raw)} bytes, at least "
                           f"{_SECRET_BYTES} are required")
    return raw


def _check_permissions(path: Path) -> None:
    if os.name != "posix":
        return  # Windows: no POSIX modes, rely on NTFS ACLs (documented in SECURITY.md)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"key file {path} is accessible by group or others (mode {mode:04o}); a secret "
            f"key must be readable by its owner only: run `chmod 600 {path}`, and treat the "
            "key as exposed if others could read it")


def load_key(path: str | os.PathLike | None = None, *, env: str | None = None,
             expect: type | None = None) -> AnyKey:
    """Load a key from a file or from an environment variable.

    Args:
        path: key file written by :func:`save_key` / ``appariement keygen``.
        env: name of an environment variable holding the key file's text, or the bare base64
            of a secret key (used when ``path`` is None).
        expect: :class:`SecretKey`, :class:`PrivateKey` or :class:`PublicKey` to insist on.

    Returns:
        The key object.

    Raises:
        KeyFileError: missing file or variable, malformed key, wrong kind of key, or (POSIX)
            a secret/private key file accessible by group or others.

    Examples:
        >>> import os
        >>> os.environ["DOC_KEY"] = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU="
        >>> load_key(env="DOC_KEY").fingerprint.startswith("sk:")
        True
    """
    if path is not None:
        path = Path(path)
        where = f"key file {path}"
        if not path.is_file():
            raise KeyFileError(f"{where} does not exist; create one with `appariement keygen`")
        try:
            text = path.read_text(encoding="ascii")
        except (UnicodeDecodeError, OSError):
            raise KeyFileError(f"{where} cannot be read as a text key file") from None
        key = _parse(text, where)
        if not isinstance(key, PublicKey):
            _check_permissions(path)
    elif env is not None:
        where = f"environment variable {env}"
        text = os.environ.get(env)
        if not text:
            raise KeyFileError(f"{where} is not set or empty")
        key = _parse(text.replace("\\n", "\n"), where)
    else:
        raise KeyFileError("load_key needs a path or env=<variable name>")
    if expect is not None and not isinstance(key, expect):
        raise KeyFileError(f"{where} holds a {type(key).__name__}, a {expect.__name__} is "
                           "needed here")
    _log.debug("loaded %s %s from %s", type(key).__name__, key.fingerprint, where)
    return key
