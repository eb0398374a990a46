"""Keys, keyed pseudonyms, the CSNS-like pivot authority, envelope encryption, Bloom filters.

Safe defaults at the top level; raw primitives stay in the private ``_hazmat`` module.

- :mod:`.keys` — :class:`SecretKey` (derive one sub-key per project and purpose with HKDF),
  X25519 :class:`PrivateKey` / :class:`PublicKey`, key files;
- :mod:`.pseudonymise` — :class:`Pseudonymiser`, keyed HMAC-SHA256 pseudonyms;
- :mod:`.envelope` — file encryption for a recipient (X25519 + HKDF + chunked AES-256-GCM),
  with an authenticated header binding project, content kind, side and roles;
- :mod:`.pivot` — the three roles: producer, pivot authority, statistician;
- :mod:`.bloom` — keyed Bloom-filter encodings of identity traits and Dice similarity in DuckDB;
- :mod:`.pprl_encoding` — a data holder's PPRL encodings (Bloom filters and keyed blocking
  tokens of its standardised identities), linked by :func:`appariement.linkage.link_encoded`.
"""

from .keys import (KEY_ENV_VAR, PrivateKey, PublicKey, SecretKey, generate_key,
                   generate_keypair, load_key, save_key)
from .bloom import BloomEncoder, dice, register_bloom_sql
from .envelope import (EnvelopeContext, decrypt_bytes, decrypt_file, decrypt_table,
                       encrypt_bytes, encrypt_file, encrypt_table, is_encrypted,
                       project_fingerprint, read_header)
from .pivot import (QUALITIES, PivotAuthority, encrypt_identities, encrypt_pivot_codes,
                    read_identities, read_pivot_codes)
from .pprl_encoding import PPRL_COLUMNS, encode_for_pprl, register_pprl_sql
from .pseudonymise import Pseudonymiser, normalise_nir_array

__all__ = [
    "SecretKey", "PrivateKey", "PublicKey", "generate_key", "generate_keypair", "load_key",
    "save_key", "KEY_ENV_VAR",
    "Pseudonymiser", "normalise_nir_array",
    "encrypt_file", "decrypt_file", "encrypt_bytes", "decrypt_bytes", "encrypt_table",
    "decrypt_table", "read_header", "is_encrypted", "EnvelopeContext", "project_fingerprint",
    "PivotAuthority", "encrypt_identities", "read_identities", "encrypt_pivot_codes",
    "read_pivot_codes", "QUALITIES",
    "BloomEncoder", "register_bloom_sql", "dice",
    "encode_for_pprl", "register_pprl_sql", "PPRL_COLUMNS",
]
