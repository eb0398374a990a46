"""``appariement pivot``: the three roles of the pivot protocol, one sub-command each.

- ``pivot encrypt``   (producer)      identity columns -> file encrypted for the pivot;
- ``pivot transcode`` (pivot)         encrypted identities -> row_id, pivot_code, quality, score
  (a pre-hashed ``hash_nir`` is re-keyed into a project-keyed code, quality ``opaque_key``);
- ``pivot decrypt``   (statistician)  encrypted pivot codes -> Parquet, checked to hold no
  identity column.

Files between the roles are authenticated envelopes bound to the project, the side, the content
(identities / pivot codes) and the roles: ``transcode`` and ``decrypt`` refuse anything else — a
plain file, a tampered, truncated or older one, or an authentic file of another project or side
— with exit code 4 and write nothing. A plaintext output is never written under a ``.enc`` name.
Every output (``--out``, ``--manifest``) is checked before any work: never over an input or a
key file, never two outputs on one path, never a folder or a read-only location (exit code 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]

_EPILOG = """roles and files:
  producer:      appariement pivot encrypt --recipient pivot_x25519.key.pub --project P \\
                     --in candidats.parquet --side platform --out candidats.ids.enc
  pivot:         appariement pivot transcode --key pivot.key --project P \\
                     --private-key pivot_x25519.key --reference personnes.parquet \\
                     --in candidats.ids.enc --side platform --out candidats.codes.enc \\
                     --encrypt-for statistician.key.pub
  statistician:  appariement pivot decrypt --private-key statistician.key --project P \\
                     --side platform --in candidats.codes.enc --out candidats.codes.parquet
Keys come from `appariement keygen` (--type secret for pivot.key, --type x25519 for the pairs).
Each encrypted file is bound to its project, side and content: give the same --project and
--side to the three commands (a file of another project or side is refused, exit code 4).
A file with a pre-hashed hash_nir column (the warehouse's candidats_v0) goes the same way: the
pivot re-keys each hash into a project-keyed code (quality opaque_key); the hash never reaches
the statistician. A code of a hash never joins a code of a NIR: when one side carries only
hashes, transcode both sides with --hash-nir prefer.
"""


def register(subparsers) -> None:
    """Add the ``pivot`` sub-command and its role sub-commands."""
    p = subparsers.add_parser(
        "pivot", help="pivot protocol: producer encrypt, pivot transcode, statistician decrypt",
        description="A trusted third party (the pivot) turns NIRs, or identity traits when the\n"
                    "NIR is missing, invalid or inconsistent, into keyed pivot codes with a\n"
                    "quality indicator (nir_exact, traits_exact, traits_probable,\n"
                    "opaque_key, nir_inconsistent, not_found); a pre-hashed hash_nir is\n"
                    "re-keyed into a project-keyed code (opaque_key). The statistician only\n"
                    "ever receives row_id -> pivot_code files. See SECURITY.md.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    roles = p.add_subparsers(dest="role", metavar="ROLE")
    roles.required = True

    enc = roles.add_parser("encrypt", help="producer: encrypt identity columns for the pivot",
                           description="Keep the row id and identity columns (nir, hash_nir, "
                                       "names, first names, sex, birth date and place, "
                                       "postcode) and "
                                       "encrypt them for the pivot's public key. No plaintext "
                                       "file is written.")
    enc.add_argument("--recipient", required=True, help="the pivot's X25519 public key file")
    enc.add_argument("--project", required=True,
                     help="project name (bound in the encrypted file's header)")
    enc.add_argument("--in", dest="src", required=True, help="candidats or personnes table")
    enc.add_argument("--out", required=True, help="encrypted identity file to create")
    _side_arguments(enc)
    enc.set_defaults(func=_encrypt)

    tr = roles.add_parser("transcode", help="pivot: identities -> pivot codes + quality",
                          description="Decrypt a producer file in memory, compute pivot codes "
                                      "(keyed HMAC of the validated NIR, of the pre-hashed "
                                      "hash_nir under a sub-key of its own, or of the NIR of "
                                      "the reference person found by exact traits) and write "
                                      "row_id, pivot_code, quality, score.")
    tr.add_argument("--key", help="pivot secret key file (default: env APPARIEMENT_KEY)")
    tr.add_argument("--project", required=True, help="project name (codes are per project)")
    tr.add_argument("--private-key", required=True,
                    help="pivot X25519 private key (decrypts the producers' files)")
    tr.add_argument("--reference", required=True,
                    help="reference register: the pivot's own personnes-shaped Parquet/CSV, or "
                         "a source-side identity file from `pivot encrypt --side source`")
    tr.add_argument("--reference-id", default="person_id", help="id column of the reference")
    tr.add_argument("--in", dest="src", required=True,
                    help="identity file from `pivot encrypt` (same --project and --side)")
    tr.add_argument("--out", required=True,
                    help="pivot-code file to create (encrypted with --encrypt-for, else plain "
                         "Parquet, refused under a .enc name)")
    tr.add_argument("--encrypt-for", help="encrypt the output for this X25519 public key "
                                          "(the statistician's)")
    tr.add_argument("--manifest", help="also write a run manifest (JSON: versions, input "
                                       "fingerprints, key fingerprints, counts) to this path")
    tr.add_argument("--probabilistic", action="store_true",
                    help="link rows left without a usable NIR or a unique exact-traits match to "
                         "the reference with the traits model (quality traits_probable)")
    tr.add_argument("--codes-for-inconsistent", action="store_true",
                    help="give rows whose NIR contradicts their traits the code of that NIR "
                         "(quality nir_inconsistent) instead of no code")
    tr.add_argument("--hash-nir", choices=("fallback", "prefer"), default="fallback",
                    help="when a row's pre-hashed hash_nir is re-keyed (quality opaque_key): "
                         "fallback, only without a usable NIR (default); prefer, whenever the "
                         "row carries one. A code of a hash never joins a code of a NIR: use "
                         "prefer for both sides when one side carries only hashes")
    _side_arguments(tr)
    tr.set_defaults(func=_transcode)

    dec = roles.add_parser("decrypt", help="statistician: decrypt a pivot-code file",
                           description="Decrypt a pivot-code file, check it was made by the "
                                       "pivot for the statistician for this --project and "
                                       "--side, and that it holds only row_id, pivot_code, "
                                       "quality, score.")
    dec.add_argument("--private-key", required=True, help="your X25519 private key file")
    dec.add_argument("--project", required=True, help="project the codes must belong to")
    dec.add_argument("--side", choices=("platform", "source"), default="platform",
                     help="side the codes must be for; default platform")
    dec.add_argument("--in", dest="src", required=True, help="encrypted pivot-code file")
    dec.add_argument("--out", required=True,
                     help="Parquet file to create (or CSV if it ends in .csv; not .enc)")
    dec.set_defaults(func=_decrypt)


def _check_paths(outputs: dict[str, str | None], inputs: dict[str, str | None]) -> None:
    """Refuse, before anything is read or written, an output over an input (or over another
    output) and an output that cannot be written (a folder, a read-only location)."""
    from .._paths import check_output_file, refuse_output_over_input, same_path
    from ..errors import ConfigError

    refuse_output_over_input(outputs, inputs)
    given = [(role, path) for role, path in outputs.items() if path is not None]
    for i, (role, path) in enumerate(given):
        for other_role, other in given[i + 1:]:
            if same_path(path, other):
                raise ConfigError(f"{role} and {other_role} are the same path ({path}): "
                                  "give each output its own file")
        check_output_file(path, role)


def _side_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--side", choices=("platform", "source"), default="platform",
                        help="platform (candidats) or source (personnes); default platform")
    parser.add_argument("--id-column", help="row id column (default candidat_id / person_id)")


def _encrypt(args: argparse.Namespace) -> int:
    from ..crypto import PublicKey, load_key
    from ..crypto.pivot import encrypt_identities
    from .pseudonymise import read_table

    _check_paths({"--out": args.out}, {"--in": args.src, "--recipient": args.recipient})
    recipient = load_key(args.recipient, expect=PublicKey)
    path = encrypt_identities(read_table(args.src), args.out, recipient, project=args.project,
                              side=args.side, id_column=args.id_column)
    print(f"wrote {path} (encrypted for {recipient.fingerprint})")
    return 0


def _matcher(args: argparse.Namespace):
    if not args.probabilistic:
        return None
    from ..linkage import traits_matcher
    return traits_matcher()


def _read_reference(path: str, private_key, project: str):
    """The pivot's own plain register, or a source-side identity envelope of the project."""
    from ..crypto import is_encrypted
    from ..crypto.pivot import read_identities

    if Path(path).is_file() and not is_encrypted(path) and Path(path).suffix.lower() != ".enc":
        return read_identities(path)
    # an envelope, or a file named like one: it must be an authentic source identity file
    return read_identities(path, private_key, project=project, side="source")


def _transcode(args: argparse.Namespace) -> int:
    from ..crypto import PrivateKey, PublicKey, load_key
    from ..crypto.pivot import PivotAuthority, check_plain_output, read_identities
    from .pseudonymise import load_secret

    if not args.encrypt_for:
        check_plain_output(args.out)  # before any work: nothing is written
    _check_paths({"--out": args.out, "--manifest": args.manifest},
                 {"--in": args.src, "--reference": args.reference, "--key": args.key,
                  "--private-key": args.private_key, "--encrypt-for": args.encrypt_for})
    private_key = load_key(args.private_key, expect=PrivateKey)
    recipient = load_key(args.encrypt_for, expect=PublicKey) if args.encrypt_for else None
    secret = load_secret(args.key)
    # the producer's file first: a wrong or replayed file is refused before the reference work
    identities = read_identities(args.src, private_key, project=args.project, side=args.side)
    reference = _read_reference(args.reference, private_key, args.project)
    pivot = PivotAuthority(secret, project=args.project, reference=reference,
                           reference_id=args.reference_id,
                           codes_for_inconsistent=args.codes_for_inconsistent,
                           hash_nir=args.hash_nir, matcher=_matcher(args))
    out = pivot.transcode(identities, side=args.side, id_column=args.id_column)
    if recipient is not None:
        from ..crypto import encrypt_pivot_codes
        encrypt_pivot_codes(out, args.out, recipient, project=args.project, side=args.side)
    else:
        from .pseudonymise import write_table
        write_table(out, args.out)
    counts = {c["quality"]: c["row_id_count"]
              for c in out.group_by("quality").aggregate([("row_id", "count")]).to_pylist()}
    summary = ", ".join(f"{q}={n}" for q, n in sorted(counts.items()))
    if args.manifest:
        _write_manifest(args, pivot, private_key, recipient, out.num_rows, counts)
    print(f"wrote {args.out}: {out.num_rows} rows ({summary}); pivot key {pivot.fingerprint}")
    return 0


def _write_manifest(args, pivot, private_key, recipient, n_rows, counts) -> None:
    from ..manifest import RunManifest

    manifest = RunManifest(command="pivot transcode",
                           config={"project": args.project, "side": args.side,
                                   "id_column": args.id_column,
                                   "reference_id": args.reference_id,
                                   "codes_for_inconsistent": args.codes_for_inconsistent,
                                   "hash_nir": args.hash_nir})
    manifest.add_input("identities", args.src)
    manifest.add_input("reference", args.reference)
    manifest.keys["pivot"] = pivot.fingerprint
    if counts.get("opaque_key") and pivot.hash_fingerprint is not None:
        manifest.keys["pivot_hash_nir"] = pivot.hash_fingerprint
    if private_key is not None:
        manifest.keys["pivot_decryption"] = private_key.fingerprint
    if recipient is not None:
        manifest.keys["output_recipient"] = recipient.fingerprint
    manifest.count("transcode", rows=n_rows, **counts)
    manifest.outputs["pivot_codes"] = str(args.out)
    manifest.write(args.manifest)


def _decrypt(args: argparse.Namespace) -> int:
    from ..crypto import PrivateKey, load_key
    from ..crypto.pivot import check_plain_output, read_pivot_codes
    from .pseudonymise import write_table

    check_plain_output(args.out)  # the decrypted codes are plain: never under a .enc name
    _check_paths({"--out": args.out}, {"--in": args.src, "--private-key": args.private_key})
    table = read_pivot_codes(args.src, load_key(args.private_key, expect=PrivateKey),
                             project=args.project, side=args.side)
    write_table(table, args.out)
    print(f"wrote {args.out}: {table.num_rows} pivot codes")
    return 0
