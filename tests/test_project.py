"""The facade: ``Project`` and its components, against the existing entry points."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import appariement
from appariement import Project
from appariement.cli import main
from appariement.errors import AppariementError, ConfigError, InputError
from appariement.identity import standardise_identities
from appariement.identity.nir import is_valid
from appariement.linkage import Linkage
from appariement.synth import SynthConfig, generate

EXAMPLE = Path(__file__).resolve().parents[1] / "README.md"
COMPONENTS = ("inputs", "identities", "pivot", "linkage", "quality", "counterfactual")

# a candidate whose identity must never show in a repr
KNOWN_NAME, KNOWN_FIRST_NAME, KNOWN_DOB = "ZORGLUBIAN", "PHILOMENE", "17/05/1984"
_NIR13 = "2840575123456"
KNOWN_NIR = _NIR13 + f"{97 - int(_NIR13) % 97:02d}"


def _with_known_identity(data):
    """The synthetic tables, the first candidate and its true person given the known
    identity (same name, first name, NIR on both sides)."""
    cand = data.platform["candidats"]
    truth = data.truth["links"]
    pairs = dict(zip(truth.column("candidat_id").to_pylist(),
                     truth.column("person_id").to_pylist()))
    cid = next(c for c in cand.column("candidat_id").to_pylist() if c in pairs)

    def replace(table, id_col, row_id, values):
        mask = pc.equal(table.column(id_col), row_id)
        for col, value in values.items():
            i = table.schema.get_field_index(col)
            new = pc.if_else(mask, pa.scalar(value, table.schema.field(i).type),
                             table.column(col))
            table = table.set_column(i, col, new)
        return table

    platform = dict(data.platform)
    platform["candidats"] = replace(cand, "candidat_id", cid, {
        "nom": KNOWN_NAME, "prenoms": KNOWN_FIRST_NAME, "nir": KNOWN_NIR,
        "date_naissance": KNOWN_DOB})
    source = dict(data.source)
    source["personnes"] = replace(data.source["personnes"], "person_id", pairs[cid], {
        "nom_naissance": KNOWN_NAME, "prenoms": KNOWN_FIRST_NAME, "nir": KNOWN_NIR})
    return platform, source


def _write_tables(folder: Path, tables: dict) -> None:
    folder.mkdir(parents=True)
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One small synthetic project, from a config written by `appariement init`, run through
    every component."""
    assert is_valid(KNOWN_NIR)
    root = tmp_path_factory.mktemp("project")
    data = generate(SynthConfig(n_candidates=150, source_ratio=2, seed=11))
    platform, source = _with_known_identity(data)
    _write_tables(root / "data" / "platform", platform)
    _write_tables(root / "data" / "source", source)
    config = root / "config.toml"
    assert main(["--quiet", "init", "--out", str(config)]) == 0
    # as written, bad rows stop the run: the synthetic spells run past today
    with Project.from_toml(config) as project, pytest.raises(InputError):
        project.inputs.load()
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('rejects = "raise"', 'rejects = "set_aside"'),
                      encoding="utf-8")
    project = Project.from_toml(config)
    result = project.linkage.run()  # runs inputs and identities first
    out = {"project": project, "data": data, "platform": platform, "source": source,
           "inputs": project.inputs.result, "features": project.identities.features,
           "result": result, "scores": project.quality.evaluate(truth=data.truth["links"]),
           "report": project.quality.evaluate(),
           "dataset": project.counterfactual.dataset(),
           "estimates": project.counterfactual.estimate("employed_12m", n_boot=0)}
    yield out
    project.close()


def test_components_show_up_in_tab_completion():
    names = dir(Project)
    for name in (*COMPONENTS, "from_toml", "synthetic", "close", "con", "name"):
        assert name in names
    with Project() as project:
        assert {"config", "truth", *COMPONENTS} <= set(dir(project))
    for name in COMPONENTS:
        assert getattr(Project, name).__doc__, f"Project.{name} has no docstring"
    assert "Project" in dir(appariement) and appariement.Project is Project


def test_links_equal_those_of_the_linkage_path(run):
    project = run["project"]
    con = duckdb.connect()
    pf = standardise_identities(con, run["platform"]["candidats"], side="platform")
    sf = standardise_identities(con, run["source"]["personnes"], side="source")
    expected = Linkage(project.config.linkage_config("nir"), con=con).run(pf, sf)
    cols = ["candidat_id", "person_id", "method", "decision"]
    got = run["result"].links.df().sort_values("candidat_id").reset_index(drop=True)
    want = expected.links.df().sort_values("candidat_id").reset_index(drop=True)
    assert len(got) > 100
    assert got[cols].equals(want[cols])
    assert (got["match_probability"] - want["match_probability"]).abs().max() < 1e-9
    assert run["result"].counts["links_match"] == expected.counts["links_match"]


def test_every_step_returns_the_existing_result_objects(run, tmp_path):
    from appariement.evaluation import EffectEstimates, EvaluationDataset, QualityReport
    from appariement.linkage import LinkageResult

    assert isinstance(run["result"], LinkageResult)
    assert isinstance(run["report"], QualityReport) and "links_by_method_decision" in \
        run["report"].figures
    assert run["scores"]["precision"] > 0.9 and run["scores"]["recall"] > 0.8
    assert isinstance(run["dataset"], EvaluationDataset)
    assert run["dataset"].counts["trials"] == 150
    assert isinstance(run["estimates"], EffectEstimates)
    from appariement.evaluation.counterfactual.estimators import METHODS
    assert run["estimates"].table["method"].tolist() == list(METHODS)
    written = run["result"].write(tmp_path / "link")
    assert Path(written["links"]).is_file()
    assert set(run["features"].write(tmp_path / "features")) == {"platform", "source"}


def test_reprs_hold_no_identity_value(run):
    project = run["project"]
    shown = [project, *(getattr(project, c) for c in COMPONENTS),
             *(run[k] for k in ("inputs", "features", "result", "scores", "report", "dataset",
                                "estimates"))]
    secrets = [KNOWN_NAME, KNOWN_NAME.title(), KNOWN_FIRST_NAME, KNOWN_FIRST_NAME.title(),
               KNOWN_NIR, KNOWN_NIR[:13], KNOWN_DOB, "1984-05-17"]
    for obj in shown:
        texts = [repr(obj)]
        if hasattr(obj, "_repr_html_"):
            texts.append(obj._repr_html_())
        for text in texts:
            assert len(text) < 5000, type(obj)
            for secret in secrets:
                assert secret not in text, f"{secret!r} shown by {type(obj).__name__}"
    for obj in shown[len(COMPONENTS) + 1:]:
        assert hasattr(obj, "_repr_html_"), type(obj)
    assert "links_match" in run["result"]._repr_html_()
    # the data really held the identity: the checks above could fail
    cand = run["inputs"].tables["candidats"]
    assert cand.filter(f"nom = '{KNOWN_NAME}'").count("*").fetchall()[0][0] == 1


def test_from_toml_on_an_init_config_runs_the_linkage(run):
    project, result = run["project"], run["result"]
    assert project.config.path is not None and project.config.pivot.mode == "none"
    assert result.counts["platform_records"] == 150
    assert result.counts["links_match"] > 100
    assert "linkage" in repr(project)


def test_a_closed_project_says_so():
    project = Project()
    project.close()
    with pytest.raises(ConfigError, match="closed"):
        project.linkage.run()


@pytest.mark.parametrize("make, error", [
    (lambda tmp: Project.from_toml(tmp / "missing.toml"), ConfigError),
    (lambda tmp: Project(42), ConfigError),
    (lambda tmp: Project({"linkage": {"assignment": "greedy"}}), ConfigError),
    (lambda tmp: Project.synthetic(n_candidates=3), ConfigError),
    (lambda tmp: Project().linkage.run(), ConfigError),
    (lambda tmp: Project().inputs.load(platform=tmp), ConfigError),
    (lambda tmp: Project().inputs.load({"candidats": pa.table({"x": [1]})},
                                       {"personnes": pa.table({"y": [2]})}), InputError),
    (lambda tmp: Project({"pivot": {"mode": "pseudonymise"},
                          "keys": {"pseudonym": str(tmp / "k.key")}}).pivot.apply(),
     ConfigError),
])
def test_bad_input_raises_the_library_errors(tmp_path, make, error):
    with pytest.raises(error) as caught:
        make(tmp_path)
    assert isinstance(caught.value, AppariementError)


def test_bad_truth_or_outcome_raises_the_library_errors(run):
    project = run["project"]
    with pytest.raises(InputError):
        project.quality.evaluate(truth=pa.table({"candidat_id": ["a"]}))
    with pytest.raises(ConfigError):
        project.counterfactual.estimate("employed_99m", n_boot=0)


def test_readme_example_is_short_with_one_import():
    """Issue 15: at most 12 lines, one import (tests/test_run_readme.py runs it)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    code = re.search(r"<!-- readme-example -->\s*```python\n(.*?)```", text, re.S).group(1)
    lines = code.strip().splitlines()
    assert len(lines) <= 12
    assert [line for line in lines if "import" in line] == ["from appariement import Project"]
