"""Security scan: every file the CLI and API write, and the logs, hold no NIR and no key bytes."""

from __future__ import annotations

import json
import logging

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from appariement import cli
from appariement.crypto import BloomEncoder, encrypt_file, load_key
from appariement.synth import SynthConfig, generate

from ._leakscan import assert_no_leak


@pytest.fixture
def restore_logging():
    logger = logging.getLogger("appariement")
    handlers, level = list(logger.handlers), logger.level
    yield
    for handler in logger.handlers[len(handlers):]:
        handler.close()
    logger.handlers[:] = handlers
    logger.setLevel(level)


def _run(*argv: str) -> int:
    return cli.main(["-v", *argv])


def test_scanner_catches_planted_leaks(tmp_path):
    nir = "184057512345625"
    pq.write_table(pa.table({"x": [nir] * 50}), tmp_path / "t.parquet", compression="zstd")
    with pytest.raises(AssertionError, match="decoded Parquet"):
        assert_no_leak([tmp_path], [nir])
    key = bytes(range(32))
    with pytest.raises(AssertionError, match="log text"):
        assert_no_leak([], [key], log_text=f"debug: {key.hex()}")
    assert assert_no_leak([tmp_path], ["285057512345699"]) == 1


def test_cli_pipeline_writes_no_nir_and_no_key(tmp_path, caplog, capsys, restore_logging):
    caplog.set_level(logging.DEBUG, logger="appariement")
    data = generate(SynthConfig(n_candidates=60, seed=5))
    inputs, keys, out = tmp_path / "in", tmp_path / "keys", tmp_path / "out"
    inputs.mkdir(), keys.mkdir(), out.mkdir()
    pq.write_table(data.platform["candidats"], inputs / "candidats.parquet")
    pq.write_table(data.source["personnes"], inputs / "personnes.parquet")
    log_file = out / "run.log"

    def run(*argv: str) -> None:
        assert _run("--log-file", str(log_file), *argv) == 0

    run("keygen", "--out", str(keys / "pivot.key"))
    run("keygen", "--type", "x25519", "--out", str(keys / "pivot_x.key"),
        "--public-out", str(out / "pivot_x.pub"))
    run("keygen", "--type", "x25519", "--out", str(keys / "stat.key"),
        "--public-out", str(out / "stat.pub"))
    run("pivot", "encrypt", "--recipient", str(out / "pivot_x.pub"), "--project", "leak",
        "--in", str(inputs / "candidats.parquet"), "--out", str(out / "candidats.ids.enc"))
    run("pivot", "encrypt", "--recipient", str(out / "pivot_x.pub"), "--side", "source",
        "--project", "leak",
        "--in", str(inputs / "personnes.parquet"), "--out", str(out / "personnes.ids.enc"))
    run("pivot", "transcode", "--key", str(keys / "pivot.key"), "--project", "leak",
        "--private-key", str(keys / "pivot_x.key"), "--reference",
        str(out / "personnes.ids.enc"), "--in", str(out / "candidats.ids.enc"),
        "--out", str(out / "codes.enc"), "--encrypt-for", str(out / "stat.pub"),
        "--manifest", str(out / "manifest.json"))
    run("pivot", "decrypt", "--private-key", str(keys / "stat.key"), "--project", "leak",
        "--in", str(out / "codes.enc"), "--out", str(out / "codes.parquet"))
    for suffix in ("parquet", "csv"):
        run("pseudonymise", "--key", str(keys / "pivot.key"), "--project", "leak",
            "--in", str(inputs / "candidats.parquet"), "--column", "nir",
            "--out", str(out / f"candidats_pseudo.{suffix}"))

    # PPRL: both holders encode with the key, the statistician links the encodings
    pprl = out / "pprl"
    for side, table in (("platform", "candidats"), ("source", "personnes")):
        run("pprl", "encode", "--in", str(inputs / f"{table}.parquet"), "--side", side,
            "--project", "leak", "--key", str(keys / "pivot.key"),
            "--out", str(pprl / f"{side}.enc.parquet"))
    run("pprl", "link", "--platform", str(pprl / "platform.enc.parquet"),
        "--source", str(pprl / "source.enc.parquet"), "--out", str(pprl / "links"))
    assert pq.read_table(pprl / "links" / "links.parquet").num_rows > 30

    # API pieces that write files: Bloom encodings and a whole-file envelope
    bloom = BloomEncoder(load_key(keys / "pivot.key"), project="leak",
                         fields=["nom", "prenoms", "date_naissance"], hardening="balance")
    pq.write_table(bloom.encode(data.platform["candidats"], id_column="candidat_id"),
                   out / "bloom.parquet")
    encrypt_file(inputs / "candidats.parquet", out / "candidats.parquet.enc",
                 load_key(out / "pivot_x.pub"))

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["keys"]["pivot"] == load_key(keys / "pivot.key").derive(
        project="leak", purpose="pivot").fingerprint
    assert manifest["counts"]["transcode"]["rows"] == 60

    codes = pq.read_table(out / "codes.parquet")
    assert codes.num_rows == 60 and codes.column("pivot_code").null_count < 60
    pseudo = pq.read_table(out / "candidats_pseudo.parquet")
    assert "nir" not in pseudo.column_names and "nir_pseudo" in pseudo.column_names

    nirs = [n for t in (data.platform["candidats"], data.source["personnes"])
            for n in t.column("nir").to_pylist() if n]
    nirs += [n.replace(" ", "") for n in nirs]
    master = load_key(keys / "pivot.key")
    key_bytes = [master._raw(), master.derive(project="leak", purpose="pivot")._raw(),
                 master.derive(project="leak", purpose="pseudonym")._raw()]
    key_bytes += [master.derive(project="leak", purpose="bloom")._raw(), bloom._hash_key,
                  master.derive(project="leak", purpose="pprl-block")._raw()]
    for name in ("pivot_x.key", "stat.key"):
        key_bytes.append(load_key(keys / name)._key.private_bytes_raw())
    console = capsys.readouterr()
    n_files = assert_no_leak([out], [*set(nirs), *key_bytes],
                             log_text=caplog.text + console.out + console.err)
    assert n_files >= 12 and log_file.stat().st_size > 0
    # nor does any PPRL file hold a name, a first name or a birth date in clear (values of 8
    # characters or more: shorter ones could occur by chance inside base32 tokens)
    traits = {v for t in (data.platform["candidats"], data.source["personnes"])
              for c in ("nom", "nom_naissance", "nom_usage", "prenoms", "date_naissance")
              if c in t.column_names for v in t.column(c).cast(pa.string()).to_pylist()
              if v and len(v) >= 8}
    assert len(traits) > 20
    assert assert_no_leak([pprl], sorted(traits)) >= 6
    assert "transcoded" in caplog.text  # the logs were captured


def test_cli_errors_exit_with_crypto_code(tmp_path, capsys, restore_logging):
    assert _run("keygen", "--type", "x25519", "--out", str(tmp_path / "a.key")) == 0
    assert _run("keygen", "--type", "x25519", "--out", str(tmp_path / "b.key")) == 0
    pq.write_table(pa.table({"candidat_id": ["c1"], "nom": ["X"], "prenoms": ["Y"]}),
                   tmp_path / "c.parquet")
    assert _run("pivot", "encrypt", "--recipient", str(tmp_path / "a.key.pub"), "--project",
                "p", "--in", str(tmp_path / "c.parquet"), "--out", str(tmp_path / "c.enc")) == 0
    assert _run("pivot", "decrypt", "--private-key", str(tmp_path / "b.key"), "--project", "p",
                "--in", str(tmp_path / "c.enc"), "--out", str(tmp_path / "d.parquet")) == 4
    assert "encrypted for key" in capsys.readouterr().err
    (tmp_path / "a.key").chmod(0o644)
    assert _run("pivot", "decrypt", "--private-key", str(tmp_path / "a.key"), "--project", "p",
                "--in", str(tmp_path / "c.enc"), "--out", str(tmp_path / "d.parquet")) == 4
    assert "chmod 600" in capsys.readouterr().err
    assert _run("keygen", "--out", str(tmp_path / "a.key")) == 4  # refuses to overwrite


def test_pseudonymise_cli_reads_latin1_csv_as_text(tmp_path, restore_logging):
    src = tmp_path / "in.csv"
    src.write_bytes("id;nir;nom\n007;1 84 05 75 123 456 25;Hélène\n008;;Zoé\n".encode("latin-1"))
    assert _run("keygen", "--out", str(tmp_path / "k.key")) == 0
    assert _run("pseudonymise", "--key", str(tmp_path / "k.key"), "--project", "p",
                "--in", str(src), "--column", "nir", "--out", str(tmp_path / "out.parquet")) == 0
    out = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert [r["id"] for r in out] == ["007", "008"] and out[0]["nom"] == "Hélène"
    code = out[0]["nir_pseudo"]
    assert len(code) == 26 and out[1]["nir_pseudo"] is None
    from appariement.crypto import Pseudonymiser
    assert code == Pseudonymiser(load_key(tmp_path / "k.key"), project="p").pseudonymise(
        ["184057512345625"])[0]
    assert_no_leak([tmp_path / "out.parquet"], ["184057512345625", "1 84 05 75 123 456 25"])


def test_key_from_environment_on_the_cli(tmp_path, monkeypatch, capsys, restore_logging):
    src = tmp_path / "in.csv"
    src.write_text("id,nir\n1,184057512345625\n")
    assert _run("keygen", "--out", str(tmp_path / "k.key")) == 0
    monkeypatch.setenv("APPARIEMENT_KEY", (tmp_path / "k.key").read_text())
    argv = ["pseudonymise", "--project", "p", "--in", str(src), "--column", "nir"]
    assert _run(*argv, "--out", str(tmp_path / "env.parquet")) == 0
    assert _run(*argv, "--key", str(tmp_path / "k.key"), "--out",
                str(tmp_path / "file.parquet")) == 0
    assert (pq.read_table(tmp_path / "env.parquet").equals(
        pq.read_table(tmp_path / "file.parquet")))
    monkeypatch.delenv("APPARIEMENT_KEY")
    assert _run(*argv, "--out", str(tmp_path / "none.parquet")) == 4
    assert "APPARIEMENT_KEY" in capsys.readouterr().err
