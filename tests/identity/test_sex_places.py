"""Sex codes and places (communes, departments, Corsica, overseas, countries)."""

from __future__ import annotations

import pytest

from appariement.errors import IdentityError
from appariement.identity import (department_of_commune, department_of_postcode,
                                  normalise_commune, normalise_country, normalise_postcode,
                                  normalise_sex)


@pytest.mark.parametrize("raw, code", [
    ("1", "1"), ("2", "2"), (1, "1"), ("2.0", "2"), ("M", "1"), ("f", "2"), ("H", "1"),
    ("HOMME", "1"), ("Femme", "2"), ("masculin", "1"), ("Féminin", "2"), ("Mme", "2"),
    (" m ", "1"), ("?", None), ("", None), (None, None), ("3", None),
])
def test_sex(raw, code, sql):
    assert normalise_sex(raw) == code
    assert sql("app_sex(?)", None if raw is None else str(raw)) == code


def test_sex_strict():
    with pytest.raises(IdentityError):
        normalise_sex("X", strict=True)


@pytest.mark.parametrize("raw, commune, dept", [
    ("75056", "75056", "75"), ("1001", "01001", "01"), ("2A004", "2A004", "2A"),
    ("2b033", "2B033", "2B"), ("20004", "20004", "20"), ("97411", "97411", "974"),
    ("97611", "97611", "976"), ("99350", "99350", "99"), ("Paris", None, None),
])
def test_communes(raw, commune, dept, sql):
    assert normalise_commune(raw) == commune
    assert department_of_commune(commune) == dept
    assert sql("app_commune(?)", raw) == commune
    assert sql("app_dept_of_commune(app_commune(?))", raw) == dept


@pytest.mark.parametrize("raw, postcode, dept", [
    ("75011", "75011", "75"), ("6000", "06000", "06"), ("20000", "20000", "2A"),
    ("20167", "20167", "2A"), ("20200", "20200", "2B"), ("20600", "20600", "2B"),
    ("97400", "97400", "974"), ("97300", "97300", "973"), ("00100", None, None),
    ("ABCDE", None, None),
])
def test_postcodes(raw, postcode, dept, sql):
    assert normalise_postcode(raw) == postcode
    assert department_of_postcode(raw) == dept
    assert sql("app_postcode(?)", raw) == postcode
    assert sql("app_dept_of_postcode(?)", raw) == dept


@pytest.mark.parametrize("raw, code", [
    ("99350", "99350"), ("350", "99350"), ("Maroc", "99350"), ("ALGÉRIE", "99352"),
    ("Côte d'Ivoire", "99326"), ("France", "99100"), ("Atlantide", None), (None, None),
])
def test_countries(raw, code, sql):
    assert normalise_country(raw) == code
    assert sql("app_country(?)", raw) == code
