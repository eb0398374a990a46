"""The TOML run configuration: defaults, paths, hashing and the error messages."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from appariement.config import Config, config_from_dict, example_config, load_config
from appariement.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_with_documented_defaults(tmp_path):
    cfg = load_config(_write(tmp_path, example_config()))
    assert cfg.pivot.mode == "none"
    assert cfg.inputs.platform == tmp_path / "data" / "platform"
    assert cfg.outputs.dir == tmp_path / "out" / "run"
    lk = cfg.linkage_config("nir")
    assert (lk.thresholds.match, lk.thresholds.review, lk.assignment) == (0.9, 0.5, "one_to_one")
    assert cfg.counterfactual_design().grace_days == 90


def test_every_section_of_the_issue_is_present():
    sections = set(tomllib.loads(example_config()))
    assert {"project", "inputs", "keys", "pivot", "identity", "linkage", "backend", "quality",
            "counterfactual", "outputs"} <= sections


@pytest.mark.parametrize("data, expected", [
    ({"linkage": {"match_treshold": 0.9}},
     "unknown key linkage.match_treshold; allowed keys in [linkage]: exact_stage"),
    ({"linkage": {"assignment": "greedy"}},
     "linkage.assignment = 'greedy' is not allowed; allowed values: one_to_one, many_to_one"),
    ({"backend": {"engine": "postgres"}}, "allowed values: duckdb, spark"),
    ({"backend": {"threads": "4"}}, "backend.threads must be an integer; got a string '4'"),
    ({"backend": {"memory_limit": "lots"}}, "backend.memory_limit is not allowed (the value, 4 characters"),
    ({"quality": {"min_cell": 0}}, "quality.min_cell = 0 is out of range: must be >= 1"),
    ({"linkage": {"match_threshold": 1.5}}, "linkage.match_threshold = 1.5 is out of range"),
    ({"linkage": {"match_threshold": 0.4}}, "linkage.review_threshold (0.5) must be <= "),
    ({"linkage": {"blocking_rules": ["dob", "zodiac"]}}, "unknown rule 'zodiac'"),
    ({"counterfactual": {"horizons": [6, 200]}}, "counterfactual.horizons[1] = 200 is out"),
    ({"counterfactual": {"outcomes": ["employed_36m"]}}, "needs horizon 36"),
    ({"counterfactual": {"comparison_classes": ["nobody"]}}, "allowed values: employer_side"),
    ({"project": {"as_of": "01/02/2025"}}, "project.as_of must be a date YYYY-MM-DD"),
    ({"project": {"name": "mon projet"}}, "project.name is not allowed (the value, 10 characters"),
    ({"inputs": {"mapping": {"candidates": {"NIR": "nir"}}}}, "inputs.mapping.candidates: "
                                                              "unknown table"),
    ({"pivot": {"mode": "pivot"}}, "pivot.mode = 'pivot' needs keys.pivot"),
    ({"pivot": {"mode": "hash"}}, "allowed values: none, pseudonymise, pivot"),
    ({"keys": {"pivot_exchange": "k.key"}}, "keys.pivot_exchange and keys.statistician go"),
    ({"linkage": {"em": "yes"}}, "linkage.em must be true, false or \"auto\""),
    ({"reporting": {}}, "unknown section [reporting]; allowed sections: project, inputs"),
])
def test_errors_name_the_dotted_key_and_allowed_values(data, expected):
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert expected in str(err.value)
    assert err.value.exit_code == 2


@pytest.mark.parametrize("value", [
    "-----BEGIN APPARIEMENT SECRET KEY-----\nQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=\n"
    "-----END APPARIEMENT SECRET KEY-----",
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=",
])
def test_inline_key_material_is_refused_without_echoing_it(value):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"keys": {"pseudonym": value}})
    message = str(err.value)
    assert "keys.pseudonym looks like key material" in message
    assert "QUJDREVG" not in message


def test_key_paths_resolve_against_the_config_folder_and_env_is_kept(tmp_path):
    cfg = config_from_dict({"keys": {"pivot": "keys/pivot.key", "pseudonym": "env:MY_KEY"}},
                           base_dir=tmp_path)
    assert Path(cfg.keys.pivot) == tmp_path / "keys" / "pivot.key"
    assert cfg.keys.pseudonym == "env:MY_KEY"


def test_toml_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(_write(tmp_path, "[linkage\nmatch_threshold = 0.9\n"))
    with pytest.raises(ConfigError, match="appariement init"):
        load_config(tmp_path / "absent.toml")


def test_windows_style_relative_paths(tmp_path):
    cfg = load_config(_write(tmp_path, '[inputs]\nplatform = "data\\\\platform"\n'))
    # on POSIX a backslash is part of the name; the point is that it stays relative to the file
    assert cfg.inputs.platform.parent == tmp_path


def test_hash_is_canonical_and_follows_the_content(tmp_path):
    a = config_from_dict({"linkage": {"match_threshold": 0.95}}, base_dir=tmp_path / "a")
    b = config_from_dict({"linkage": {"match_threshold": 0.95}}, base_dir=tmp_path / "b")
    c = config_from_dict({"linkage": {"match_threshold": 0.96}}, base_dir=tmp_path / "a")
    assert a.hash() == b.hash()  # same project moved elsewhere: same relative paths
    assert a.hash() != c.hash()
    assert a.section_hash("inputs") == c.section_hash("inputs")
    assert a.hash().startswith("sha256:") and len(a.hash()) == 7 + 64
    assert Config().to_dict()["linkage"]["match_threshold"] == 0.9


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=-5, max_value=2000))
def test_threads_accepted_exactly_in_range(threads):
    if 1 <= threads <= 1024:
        assert config_from_dict({"backend": {"threads": threads}}).backend.threads == threads
    else:
        with pytest.raises(ConfigError, match="backend.threads"):
            config_from_dict({"backend": {"threads": threads}})


@settings(max_examples=40, deadline=None)
@given(st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=1))
def test_thresholds_ordering_property(match, review):
    data = {"linkage": {"match_threshold": match, "review_threshold": review,
                        "min_report_probability": 0.0}}
    if review <= match:
        assert config_from_dict(data).linkage_config(None).thresholds.match == match
    else:
        with pytest.raises(ConfigError, match="review_threshold"):
            config_from_dict(data)


@pytest.mark.parametrize("values, option, key", [
    ({"quality.min_cell": 0}, "--min-cell", "quality.min_cell"),
    ({"counterfactual.grace_days": 0}, "--grace-days", "counterfactual.grace_days"),
    ({"counterfactual.outcomes": ["employed_6m", "x"]}, "--outcomes", "counterfactual.outcomes"),
    ({"linkage.review_threshold": 0.95}, "--review-threshold", "linkage.review_threshold"),
])
def test_check_options_gives_the_config_message_naming_the_option(values, option, key):
    from appariement.config import check_options

    (dotted, value), = values.items()
    section, name = dotted.split(".")
    with pytest.raises(ConfigError) as from_config:
        config_from_dict({section: {name: value}})
    with pytest.raises(ConfigError) as from_cli:
        check_options(values, {key: option})
    cli = str(from_cli.value)
    assert cli.startswith(f"{option} ({key}")
    # the same message once "--option (" and its ")" are taken out
    assert cli.replace(f"{option} (", "", 1).replace(")", "", 1) == str(from_config.value)


def test_check_options_accepts_what_the_config_accepts():
    from appariement.config import check_options

    check_options({"quality.min_cell": 5, "counterfactual.outcomes": ["employed_12m"]},
                  {"quality.min_cell": "--min-cell"})


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
               min_size=40, max_size=60))
@settings(max_examples=30, deadline=None)
def test_a_key_pasted_in_project_name_is_never_echoed(body):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"project": {"name": body + "="}})
    assert body not in str(err.value) and "looks like key material" in str(err.value)


# ------------------------------------------------------------------------ [inputs] profile, recode

def test_profile_is_a_name_or_a_list_and_reaches_load_tables(tmp_path):
    text = example_config(profile="les_emplois_extract")
    cfg = load_config(_write(tmp_path, text))
    assert cfg.inputs.profile == ("les_emplois_extract",)
    assert cfg.inputs.load_options()["profile"] == ["les_emplois_extract"]
    both = config_from_dict({"inputs": {"profile": ["les_emplois_extract", "flux_iae"]}})
    assert both.inputs.profile == ("les_emplois_extract", "flux_iae")
    # the profile is part of what the inputs stage depends on
    assert cfg.section_hash("inputs") != load_config(
        _write(tmp_path, example_config())).section_hash("inputs")


@pytest.mark.parametrize("value, expected", [
    ("les_emplois", "inputs.profile: unknown import profile 'les_emplois'; known profiles: "
                    "flux_iae, les_emplois_extract, les_emplois_warehouse"),
    (["les_emplois_extract", "les_emplois_warehouse"], "both describe table 'candidats'"),
    (3, "inputs.profile must be an import profile name or a list of names"),
    ([], "inputs.profile must be an import profile name or a list of names"),
])
def test_bad_profile_is_a_config_error_naming_the_known_ones(value, expected):
    with pytest.raises(ConfigError, match=None) as err:
        config_from_dict({"inputs": {"profile": value}})
    assert expected in str(err.value)


def test_recode_is_read_from_toml_tables_and_checked_early(tmp_path):
    text = example_config().replace(
        "[keys]", '[inputs.recode.candidatures.etat]\n"Candidature refusée" = "refused"\n'
                  '"Sans suite" = ""\n\n[keys]', 1)
    cfg = load_config(_write(tmp_path, text))
    assert cfg.inputs.recode == {"candidatures": {"etat": {"Candidature refusée": "refused",
                                                           "Sans suite": ""}}}
    assert cfg.inputs.load_options()["recode"] == cfg.inputs.recode


@pytest.mark.parametrize("recode, expected", [
    ({"candidatures": {"etat": {"x": "rejected"}}},
     "inputs.recode.candidatures.etat: 'rejected' is not a code of 'etat'"),
    ({"candidats": {"nom": {"x": "y"}}}, "identifying column"),
    ({"candidatures": {"colour": {"x": "y"}}}, "'colour' is not a column of the contract"),
    ({"candidates": {"etat": {"x": "new"}}}, "unknown table 'candidates'"),
    ({"candidatures": {"etat": "new"}}, "must hold one table per column"),
    ({"organisations": {"habilitee": {"oui": "yes"}}}, "recoded to 'true' or 'false'"),
])
def test_bad_recode_names_the_dotted_key(recode, expected):
    with pytest.raises(ConfigError) as err:
        config_from_dict({"inputs": {"recode": recode}})
    assert expected in str(err.value)


def test_reader_policies_are_config_keys():
    cfg = config_from_dict({"inputs": {"on_mixed_encoding": "warn", "on_nir_scientific": "null"}})
    options = cfg.inputs.load_options()
    assert (options["on_mixed_encoding"], options["on_nir_scientific"]) == ("warn", "null")
    with pytest.raises(ConfigError, match="inputs.on_nir_scientific = 'drop' is not allowed; "
                                          "allowed values: error, null"):
        config_from_dict({"inputs": {"on_nir_scientific": "drop"}})


def test_with_profile_overrides_and_checks_like_the_file():
    cfg = config_from_dict({"inputs": {"profile": "les_emplois_warehouse"}})
    assert cfg.with_profile(["les_emplois_extract"]).inputs.profile == ("les_emplois_extract",)
    assert cfg.with_profile(None).inputs.profile is None
    with pytest.raises(ConfigError, match="--profile: unknown import profile 'x'"):
        cfg.with_profile(["x"], option="--profile")


def test_example_config_for_a_profile_lists_what_it_cannot_supply():
    text = example_config(profile="les_emplois_warehouse")
    data = tomllib.loads(text)
    assert data["inputs"]["profile"] == "les_emplois_warehouse"
    assert "#   candidats: read from candidats_v0 / candidats" in text
    assert "cannot supply: nir, nom" in text
    # without a profile the key is a comment naming the known profiles
    plain = example_config()
    assert "profile" not in tomllib.loads(plain)["inputs"]
    assert "les_emplois_warehouse" in plain


def test_a_refused_free_text_value_is_never_echoed():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"project": {"name": "dupont 185057800608436"}})
    assert "185057800608436" not in str(err.value) and "dupont" not in str(err.value)


# ------------------------------------------------------------------ one source of truth per option

def test_the_example_shows_every_key_of_every_section():
    """example_config is written from the option classes: every field of every section is in it,
    set (at its default) or as a commented example, and what is set parses to the defaults."""
    import dataclasses
    import re

    from appariement.config import _SECTIONS

    text = example_config()
    for section, cls in _SECTIONS.items():
        body = text.split(f"[{section}]\n", 1)[1].split("\n[", 1)[0]
        for f in dataclasses.fields(cls):
            assert re.search(rf"^(# )?(\[{section}\.)?{f.name}\b", body, re.M), (section, f.name)
    assert config_from_dict(tomllib.loads(example_config(platform="p", source="s",
                                                         out="o"))).linkage == Config().linkage


def test_config_defaults_are_those_of_the_typed_option_classes():
    from appariement.evaluation import CounterfactualDesign
    from appariement.linkage import LinkageConfig

    lk, linkage = Config().linkage_config("nir"), LinkageConfig()
    for name in ("trusted_consistency", "recheck_exact", "assignment", "comparison_budget",
                 "min_report_probability", "u_max_pairs", "em", "m_from_labels", "seed"):
        assert getattr(lk, name) == getattr(linkage, name), name
    assert lk.thresholds == linkage.thresholds
    design, default = Config().counterfactual_design(), CounterfactualDesign()
    for name in ("grace_days", "later_hires", "unit", "comparison_classes", "horizons",
                 "eligible_only", "unlinked"):
        assert getattr(design, name) == getattr(default, name), name


@pytest.mark.parametrize("command, dotted", [
    (["link", "--platform", "p", "--source", "s", "--out", "o"],
     {"match_threshold": "linkage.match_threshold", "assignment": "linkage.assignment",
      "budget": "linkage.comparison_budget", "rejects": "inputs.rejects",
      "backend": "backend.engine"}),
    (["report", "--links", "l", "--platform", "p", "--out", "o"],
     {"min_cell": "quality.min_cell", "objective": "quality.objective",
      "target": "quality.target"}),
    (["counterfactual", "--platform", "p", "--source", "s", "--links", "l", "--out", "o"],
     {"grace_days": "counterfactual.grace_days", "later_hires": "counterfactual.later_hires",
      "n_boot": "counterfactual.n_boot", "outcomes": "counterfactual.outcomes"}),
])
def test_command_line_defaults_are_the_config_defaults(command, dotted):
    from appariement.cli import build_parser

    args = build_parser().parse_args(command)
    cfg = Config()
    for dest, key in dotted.items():
        section, name = key.split(".")
        expected = getattr(getattr(cfg, section), name)
        if isinstance(expected, tuple):
            expected = ",".join(map(str, expected))
        assert getattr(args, dest) == expected, dest
