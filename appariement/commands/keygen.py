"""``appariement keygen``: create a secret key or an X25519 key pair."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._paths import check_output_file, refuse_output_over_input
from ..errors import ConfigError

__all__ = ["register"]


def register(subparsers) -> None:
    """Add the ``keygen`` sub-command."""
    p = subparsers.add_parser(
        "keygen", help="generate a secret key (pseudonyms, pivot) or an X25519 key pair",
        description="Write a new key file readable by its owner only (mode 0600). "
                    "--type secret: a 256-bit master key for pseudonyms, the pivot and Bloom "
                    "filters (sub-keys are derived per project). --type x25519: a key pair for "
                    "encrypted exchanges; the private key goes to --out, the public key (to give "
                    "to producers) to --public-out (default: OUT.pub). Only fingerprints are "
                    "printed, never key bytes.")
    p.add_argument("--out", required=True, help="key file to create")
    p.add_argument("--type", choices=("secret", "x25519"), default="secret",
                   help="kind of key (default: secret)")
    p.add_argument("--public-out", help="public key file for --type x25519 (default: OUT.pub)")
    p.add_argument("--force", action="store_true", help="overwrite existing key files")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..crypto import generate_key, generate_keypair, save_key

    out = Path(args.out)
    public_out = Path(args.public_out or f"{args.out}.pub") if args.type == "x25519" else None
    # every check before the first byte: a refusal must not leave a new key half-written (a
    # fresh .pub next to an old private key would pair with nothing)
    _check_target(out, "--out", args.force)
    if public_out is not None:
        _check_target(public_out, "--public-out", args.force)
        refuse_output_over_input({"--public-out": public_out}, {"--out": out})
    if args.type == "secret":
        key = generate_key()
        save_key(key, out, overwrite=args.force)
        print(f"wrote secret key {out} (fingerprint {key.fingerprint})")
        return 0
    private = generate_keypair()
    # the private key first: a public key can be re-derived from it, not the other way round
    save_key(private, out, overwrite=args.force)
    save_key(private.public_key(), public_out, overwrite=args.force)
    print(f"wrote private key {out} and public key {public_out} "
          f"(fingerprint {private.fingerprint})")
    return 0


def _check_target(path: Path, role: str, force: bool) -> None:
    from ..errors import KeyFileError

    if path.is_dir():
        raise ConfigError(f"{role} {path} is a folder; give the name of the key file to create")
    if path.exists() and not force:
        raise KeyFileError(f"key file {path} ({role}) already exists; refusing to overwrite it "
                           "(pass --force if you really mean to); nothing was written")
    check_output_file(path, role)
