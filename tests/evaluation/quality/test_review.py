"""Clerical review: stratified sample, export without NIR, labels read back."""
import numpy as np
import pandas as pd
import pytest

from appariement.errors import InputError
from appariement.evaluation import (draw_review_sample, export_review_sample, labelled_curve,
                                    read_review_labels)


def _links(n=400, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.beta(0.5, 0.5, n)
    return pd.DataFrame({"candidat_id": [f"c{i}" for i in range(n)],
                         "person_id": [f"p{i}" for i in range(n)],
                         "method": "probabilistic", "match_probability": p,
                         "match_weight": np.log2(p / (1 - p)), "why": ""})


def test_sample_oversamples_grey_zone_and_weights_sum_to_population():
    links = _links()
    s = draw_review_sample(links, n=80, review=0.5, match=0.9, grey_share=0.5)
    grey = ((links.match_probability >= 0.5) & (links.match_probability < 0.9)).sum()
    assert (s.stratum == "grey_zone").sum() == min(40, grey)
    assert abs(s.weight.sum() - len(links)) < 1e-6
    assert s.pair_id.is_unique


def test_horvitz_thompson_precision_close_to_census():
    links = _links(2000, seed=3)
    rng = np.random.default_rng(4)
    links["true"] = rng.random(len(links)) < links.match_probability
    s = draw_review_sample(links, n=600, seed=1).merge(
        links[["candidat_id", "true"]], on="candidat_id")
    ht = labelled_curve(s.match_probability, s["true"], s.weight, thresholds=[0.5])
    census = labelled_curve(links.match_probability, links["true"], thresholds=[0.5])
    assert abs(ht.precision[0] - census.precision[0]) < 0.03
    assert abs(ht.recall[0] - census.recall[0]) < 0.03


def test_export_has_no_nir_and_labels_read_back(tmp_path):
    links = _links(60)
    feats = pd.DataFrame({"record_id": links.candidat_id, "birth_name": "MARTIN",
                          "sex": "1", "nir": "1850575123456"})
    src = feats.assign(record_id=links.person_id, nir="2850575999999")
    s = draw_review_sample(links, n=20)
    path = export_review_sample(s, feats, src, tmp_path / "r.csv")
    text = path.read_text(encoding="utf-8")
    assert "1850575123456" not in text and "2850575999999" not in text
    table = pd.read_csv(path, sep=";", dtype=str)
    assert "birth_name_platform" in table and "nir_platform" not in table
    table["label"] = ["match", "non_match", "unsure", None] * 5
    table.to_csv(path, sep=";", index=False)
    back = read_review_labels(path)  # weights and probabilities from the file itself
    assert back.is_match.iloc[:2].tolist() == [True, False]
    assert back.is_match.isna().sum() == 10  # unsure and blank labels carry no label
    assert abs(back.weight.sum() - 60) < 1e-6
    table.loc[0, "label"] = "peut-être"
    table.to_csv(path, sep=";", index=False)
    with pytest.raises(InputError, match="labels are not one of"):
        read_review_labels(path, s)


def test_a_shifted_weight_column_is_refused_without_quoting_it(tmp_path):
    links = _links(30)
    feats = pd.DataFrame({"record_id": links.candidat_id, "birth_name": "MARTIN", "sex": "1"})
    src = feats.assign(record_id=links.person_id)
    s = draw_review_sample(links, n=10)
    path = export_review_sample(s, feats, src, tmp_path / "r.csv")
    table = pd.read_csv(path, sep=";", dtype=str)
    table["label"] = "match"
    table.loc[0, "weight"] = "DUPONT"
    table.to_csv(path, sep=";", index=False)
    with pytest.raises(InputError, match="1 value.* 'weight' are not numbers") as err:
        read_review_labels(path)
    assert "DUPONT" not in str(err.value)
