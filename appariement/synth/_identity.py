"""True identities of synthetic people and their two renderings: platform (messy) and
register (clean but not perfect).

Everything is drawn for whole arrays; Python loops run only over the rows that receive a typo
or a transliteration variant.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _reference as ref

_SYLLABLES = np.array("BA BE BO BOU CHA CHE DA DE DU FA FO GA GI GUE LA LE LI LOU MA ME MI MO NA "
                      "NE NI PA PE PI RA RE RI RO SA SE SI TA TE TI VA VE VI JO CO CA".split(),
                      dtype=object)
_ENDINGS = np.array("RD RT T N L UX ND LLE SSE RON GNE ZE Y ET OT AULT IER AND IN EAU EL "
                    "AC OUX IÈRE".split(), dtype=object)
_PHONETIC = (("PH", "F"), ("F", "PH"), ("EAU", "O"), ("AU", "O"), ("AI", "E"), ("EI", "E"),
             ("Y", "I"), ("I", "Y"), ("LL", "L"), ("TT", "T"), ("SS", "S"), ("S", "SS"),
             ("QU", "K"), ("C", "K"), ("K", "C"), ("EN", "AN"), ("AN", "EN"), ("OU", "U"),
             ("CH", "SH"), ("É", "E"), ("È", "E"), ("TH", "T"), ("D", "T"), ("Z", "S"))
_LETTERS = "ABCDEFGHIJKLMNOPRSTUVZ"


def typo(text: str, rng: np.random.Generator) -> str:
    """One typing or phonetic error (substitution, deletion, insertion, transposition)."""
    kind = int(rng.integers(0, 5))
    if kind == 0:
        order = rng.permutation(len(_PHONETIC))
        for i in order:
            old, new = _PHONETIC[i]
            if old in text:
                return text.replace(old, new, 1)
    n = len(text)
    if n < 3:
        return text + _LETTERS[int(rng.integers(0, len(_LETTERS)))]
    pos = int(rng.integers(1, n - 1))
    if kind == 1:
        return text[:pos] + text[pos + 1:]
    if kind == 2:
        return text[:pos] + text[pos] + text[pos:]
    if kind == 3 and text[pos] != text[pos + 1]:
        return text[:pos] + text[pos + 1] + text[pos] + text[pos + 2:]
    letter = _LETTERS[int(rng.integers(0, len(_LETTERS)))]
    if letter == text[pos]:
        letter = "E" if letter != "E" else "A"
    return text[:pos] + letter + text[pos + 1:]


def _variant(name: str, rng: np.random.Generator) -> str:
    group = ref.variants().get(name)
    if not group:
        return name
    others = [v for v in group if v != name]
    return others[int(rng.integers(0, len(others)))] if others else name


def draw_people(rng: np.random.Generator, ref_dates: np.ndarray, candidate: bool, cfg) -> dict:
    """Draw true traits (names, sex, birth, place, residence) of people.

    Args:
        rng: random generator.
        ref_dates: datetime64[D] date at which each person's age is drawn (time zero for
            candidates); its length is the number of people.
        candidate: candidates are younger, more often men and of foreign origin.
        cfg: the :class:`SynthConfig` (abroad birth-date and usage-name rates).

    Returns:
        A dict of numpy arrays (one entry per trait).
    """
    n = len(ref_dates)
    origin_p = ([0.55, 0.18, 0.09, 0.05, 0.03, 0.03, 0.04, 0.03] if candidate
                else [0.74, 0.09, 0.04, 0.03, 0.04, 0.02, 0.02, 0.02])
    origin = np.asarray(ref.ORIGINS, dtype=object)[rng.choice(8, size=n, p=origin_p)]
    sex = np.where(rng.random(n) < (0.6 if candidate else 0.5), 1, 2)
    if candidate:
        band = rng.choice(3, size=n, p=[0.25, 0.55, 0.20])
        age = np.select([band == 0, band == 1], [rng.integers(18, 26, n), rng.integers(26, 50, n)],
                        rng.integers(50, 65, n))
    else:
        age = rng.integers(16, 70, n)
    dob = (np.asarray(ref_dates, dtype="datetime64[D]") - (age * 365.25).astype(np.int64)
           - rng.integers(0, 365, n))
    year, month, day = ref.date_parts(dob)

    abroad_p = np.where(origin == "FR", 0.03, 0.55 if candidate else 0.45)
    born_abroad = rng.random(n) < abroad_p
    dep_codes, dep_p = ref.departements()
    dept_res = ref.choose(rng, dep_codes, dep_p, n)
    dept_birth = np.where(rng.random(n) < 0.6, dept_res, ref.choose(rng, dep_codes, dep_p, n))
    overseas = pc.utf8_length(pa.array(dept_birth, pa.string())).to_numpy() == 3
    commune_num = np.minimum(np.exp(rng.random(n) * np.log(600)).astype(np.int64) + 1, 999)
    commune = ref.to_numpy_str(ref.join([
        pa.array(dept_birth, pa.string()),
        pc.if_else(pa.array(overseas), ref.zfill(commune_num % 60 + 1, 2),
                   ref.zfill(commune_num, 3))]))
    country = np.empty(n, dtype=object)
    ctry = ref.countries()
    for group in ref.ORIGINS:
        sel = np.flatnonzero(born_abroad & (origin == group))
        if len(sel):
            codes, p = ctry[group]
            country[sel] = ref.choose(rng, codes, p, len(sel))
    place = np.where(born_abroad, country, commune)
    commune = np.where(born_abroad, None, commune)
    country = np.where(born_abroad, country, None)

    quality = np.full(n, "full", dtype=object)
    u = rng.random(n)
    quality[born_abroad & (u < cfg.abroad_dob_unknown)] = "unknown"
    quality[born_abroad & (u >= 1 - cfg.abroad_dob_day_unknown)] = "day_unknown"

    # postal code of residence: département prefix (Corsica 20, overseas 97x) + digits
    res_len3 = pc.utf8_length(pa.array(dept_res, pa.string())).to_numpy() == 3
    prefix = pc.replace_substring_regex(pa.array(dept_res, pa.string()), "^2[AB]$", "20")
    code_postal = ref.to_numpy_str(ref.join([
        prefix, pc.if_else(pa.array(res_len3), ref.zfill(rng.integers(0, 100, n), 2),
                           ref.zfill(rng.integers(0, 100, n) * 10, 3))]))

    surname = _draw_surnames(rng, origin)
    usage = np.full(n, None, dtype=object)
    married = (sex == 2) & (age >= 23) & (rng.random(n) < cfg.married_usage_name)
    if married.any():
        spouse_origin = np.where(rng.random(married.sum()) < 0.7, "FR", origin[married])
        usage[married] = _draw_surnames(rng, spouse_origin)
        usage[married & (usage == surname)] = None
    n_first = np.where(origin == "FR", rng.choice([1, 2, 3], n, p=[0.3, 0.45, 0.25]),
                       rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1]))
    first = [_draw_first_names(rng, origin, sex) for _ in range(3)]
    first[1] = np.where((n_first >= 2) & (first[1] != first[0]), first[1], None)
    first[2] = np.where((n_first >= 3) & (first[2] != first[0]) & (first[2] != first[1])
                        & (first[1] != None), first[2], None)  # noqa: E711 (element-wise)
    return {"origin": origin, "sex": sex, "dob": dob, "year": year, "month": month, "day": day,
            "born_abroad": born_abroad, "commune": commune, "country": country, "place": place,
            "dob_quality": quality, "dept_res": dept_res, "code_postal": code_postal,
            "surname": surname, "usage": usage, "first1": first[0], "first2": first[1],
            "first3": first[2]}


def _draw_surnames(rng, origin: np.ndarray) -> np.ndarray:
    n = len(origin)
    out = np.empty(n, dtype=object)
    table = ref.surnames()
    for group in ref.ORIGINS:
        sel = np.flatnonzero(origin == group)
        if len(sel):
            names, p = table[group]
            out[sel] = ref.choose(rng, names, p, len(sel))
    # heavy tail: rare surnames from syllables, so that unique names exist
    rare = np.flatnonzero((origin == "FR") & (rng.random(n) < 0.35)
                          | (origin != "FR") & (rng.random(n) < 0.10))
    k = len(rare)
    if k:
        s1 = _SYLLABLES[rng.integers(0, len(_SYLLABLES), k)]
        s2 = np.where(rng.random(k) < 0.6, _SYLLABLES[rng.integers(0, len(_SYLLABLES), k)], None)
        end = _ENDINGS[rng.integers(0, len(_ENDINGS), k)]
        out[rare] = ref.to_numpy_str(ref.join([s1, s2, end]))
    double = np.flatnonzero((origin == "FR") & (rng.random(n) < 0.03))
    if len(double):
        names, p = table["FR"]
        second = ref.choose(rng, names, p, len(double))
        out[double] = ref.to_numpy_str(ref.join([out[double], second], "-"))
    return out


def _draw_first_names(rng, origin: np.ndarray, sex: np.ndarray) -> np.ndarray:
    out = np.empty(len(origin), dtype=object)
    table = ref.first_names()
    for group in ref.ORIGINS:
        for s in (1, 2):
            sel = np.flatnonzero((origin == group) & (sex == s))
            if len(sel):
                names, p = table[(group, str(s))]
                out[sel] = ref.choose(rng, names, p, len(sel))
    return out


def assign_nirs(rng: np.random.Generator, people: dict) -> None:
    """Give every person a unique valid NIR consistent with sex, birth year/month and place.

    Born abroad: département 99 + the 3 country digits. Unknown birth dates (abroad) use the
    register placeholder month 01, or month code 99 for a third of them.
    """
    n = len(people["sex"])
    month = people["month"].copy()
    unknown = people["dob_quality"] == "unknown"
    month[unknown] = np.where(rng.random(unknown.sum()) < 0.33, 99, 1)
    yy = people["year"] % 100
    place_num = ref.place_numeric(people["place"])
    cells = (people["sex"] * 10**10 + yy * 10**8 + month * 10**5 + place_num).astype(np.int64)
    order = ref.unique_orders(rng, cells)
    nir, first13 = ref.nir_strings(people["sex"], yy, month, people["place"], order)
    people["nir"] = ref.to_numpy_str(nir)
    people["nir_first13"] = first13
    people["nir_month"] = month
    assert len(people["nir"]) == n


def _case_style(values: np.ndarray, rng: np.random.Generator, p_strip: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Random case (UPPER 55 %, Title 35 %, lower 10 %) and accent stripping per row."""
    n = len(values)
    arr = pa.array(values, type=pa.string())
    style = rng.choice(3, size=n, p=[0.55, 0.35, 0.10])
    strip = rng.random(n) < p_strip
    stripped = ref.strip_accents(arr)
    arr = pc.if_else(pa.array(strip), stripped, arr)
    title, lower = pc.utf8_title(arr), pc.utf8_lower(arr)
    arr = pc.if_else(pa.array(style == 1), title, pc.if_else(pa.array(style == 2), lower, arr))
    return ref.to_numpy_str(arr), strip


def render_platform(rng: np.random.Generator, people: dict, idx: np.ndarray, cfg,
                    degraded: np.ndarray) -> tuple[dict, dict]:
    """Platform identity columns of candidates (rows ``idx`` of ``people``), with noise.

    Returns:
        ``(columns, noise)``: the candidats identity columns and the per-row noise record.
    """
    n = len(idx)
    factor = np.where(degraded, cfg.degraded_noise_factor, 1.0)

    def rate(r):
        return np.minimum(r * factor, 0.95)

    surname, usage = people["surname"][idx], people["usage"][idx]
    has_usage = np.array([u is not None for u in usage])

    # --- nom: usage name for many married women, sometimes combined forms
    form = np.full(n, "birth", dtype=object)
    u = rng.random(n)
    p_usage = cfg.platform_uses_usage_name
    form[has_usage & (u < p_usage)] = "usage"
    form[has_usage & (u >= p_usage) & (u < p_usage + (1 - p_usage) * 0.4)] = "birth_epouse_usage"
    form[has_usage & (u >= p_usage + (1 - p_usage) * 0.4) & (u < p_usage + (1 - p_usage) * 0.8)] \
        = "usage_nee_birth"
    nom = surname.copy()
    translit = np.zeros(n, dtype=bool)
    name_typo = rng.random(n) < rate(cfg.name_typo)
    use = form == "usage"
    nom[use] = usage[use]
    in_group = np.array([x in ref.variants() for x in nom])
    translit[in_group] = rng.random(in_group.sum()) < cfg.translit
    for i in np.flatnonzero(translit):
        nom[i] = _variant(nom[i], rng)
    for i in np.flatnonzero(name_typo):
        nom[i] = typo(nom[i], rng)
    a = form == "birth_epouse_usage"
    nom[a] = ref.to_numpy_str(ref.join([nom[a], np.full(a.sum(), "épouse", object), usage[a]],
                                       " "))
    b = form == "usage_nee_birth"
    nom[b] = ref.to_numpy_str(ref.join([usage[b], np.full(b.sum(), "née", object), nom[b]], " "))
    nom, strip_nom = _case_style(nom, rng, cfg.accents_stripped)
    nom_naissance = np.where(has_usage & (rng.random(n) < 0.5), surname,
                             np.where(rng.random(n) < 0.15, surname, None))
    nn_mask = np.array([x is not None for x in nom_naissance])
    cased, _ = _case_style(np.where(nn_mask, nom_naissance, ""), rng, cfg.accents_stripped)
    nom_naissance = np.where(nn_mask, cased, None)

    # --- prenoms: often only the first, sometimes all; compound names split or cut
    f1, f2, f3 = (people[k][idx] for k in ("first1", "first2", "first3"))
    compound = np.array(["-" in x for x in f1])
    first_form = np.full(n, "first", dtype=object)
    u = rng.random(n)
    has_more = np.array([x is not None for x in f2])
    first_form[has_more & (u >= cfg.first_name_only_first)] = "all"
    first_form[has_more & (u < 0.03)] = "second"
    v = rng.random(n)
    first_form[compound & (first_form == "first") & (v < 0.25)] = "hyphen_lost"
    first_form[compound & (first_form == "first") & (v >= 0.85)] = "compound_truncated"
    p1 = f1.copy()
    fn_translit = np.array([x in ref.variants() for x in p1]) & (rng.random(n) < cfg.translit)
    for i in np.flatnonzero(fn_translit):
        p1[i] = _variant(p1[i], rng)
    fn_typo = rng.random(n) < rate(cfg.first_name_typo)
    for i in np.flatnonzero(fn_typo):
        p1[i] = typo(p1[i], rng)
    prenoms = p1.copy()
    hl = first_form == "hyphen_lost"
    prenoms[hl] = ref.to_numpy_str(pc.replace_substring(pa.array(p1[hl], pa.string()), "-", " "))
    ct = first_form == "compound_truncated"
    prenoms[ct] = ref.to_numpy_str(pc.list_element(
        pc.split_pattern(pa.array(p1[ct], pa.string()), "-"), 0))
    al = first_form == "all"
    sep = np.where(rng.random(al.sum()) < 0.8, " ", ", ")
    joined_space = ref.to_numpy_str(ref.join([p1[al], f2[al], f3[al]], " "))
    joined_comma = ref.to_numpy_str(ref.join([p1[al], f2[al], f3[al]], ", "))
    prenoms[al] = np.where(sep == " ", joined_space, joined_comma)
    sec = first_form == "second"
    prenoms[sec] = f2[sec]
    prenoms, strip_prenom = _case_style(prenoms, rng, cfg.accents_stripped)

    # --- sex: various codings, rare errors
    sex = people["sex"][idx].copy()
    sex_error = rng.random(n) < cfg.sex_error
    sex[sex_error] = 3 - sex[sex_error]
    style = rng.choice(5, size=n, p=[0.40, 0.33, 0.15, 0.10, 0.02])
    codes = np.array([["1", "2"], ["M", "F"], ["H", "F"], ["HOMME", "FEMME"], [None, None]],
                     dtype=object)
    sexe = codes[style, sex - 1]

    # --- birth date: mixed formats, swaps, errors, partial dates for people born abroad
    date_txt, dob_noise = _render_dob(rng, people, idx, cfg, rate)

    # --- places
    commune = people["commune"][idx].copy()
    bp_missing = rng.random(n) < rate(cfg.birthplace_missing)
    commune[bp_missing] = None
    country = people["country"][idx].copy()
    country[bp_missing] = None
    code_postal = people["code_postal"][idx]

    columns = {"nom": nom, "nom_naissance": nom_naissance, "prenoms": prenoms, "sexe": sexe,
               "date_naissance": date_txt, "commune_naissance": commune,
               "pays_naissance": country, "code_postal": code_postal}
    noise = {"name_form": form, "usage_name": form != "birth", "name_typo": name_typo,
             "name_translit": translit, "first_name_form": first_form,
             "first_name_partial": (first_form != "all") & has_more | ct,
             "first_name_translit": fn_translit, "first_name_typo": fn_typo,
             "accents_stripped": strip_nom | strip_prenom, "sex_code_style": style,
             "sex_error": sex_error, "birthplace_missing": bp_missing, **dob_noise}
    return columns, noise


def _render_dob(rng, people, idx, cfg, rate):
    n = len(idx)
    y, m, d = (people[k][idx].copy() for k in ("year", "month", "day"))
    quality = people["dob_quality"][idx]
    unknown, day_unknown = quality == "unknown", quality == "day_unknown"
    m[unknown], d[unknown] = 1, 1
    d[day_unknown] = 1
    swap = (rng.random(n) < rate(cfg.dob_swap)) & (d <= 12) & (d != m) & (quality == "full")
    d[swap], m[swap] = m[swap], d[swap].copy()
    year_error = rng.random(n) < rate(cfg.dob_year_error)
    y[year_error] += rng.choice([-10, -1, 1, 10], size=year_error.sum())
    day_error = (rng.random(n) < rate(cfg.dob_day_error)) & (quality == "full")
    d[day_error] = np.where(d[day_error] < 28, d[day_error] + 1, d[day_error] - 1)
    dd, mm, yyyy = ref.zfill(d, 2), ref.zfill(m, 2), ref.zfill(y, 4)
    formats = [
        ref.join([dd, mm, yyyy], "/"),                 # 0 DD/MM/YYYY
        ref.join([yyyy, mm, dd], "-"),                 # 1 YYYY-MM-DD
        ref.join([yyyy, mm, dd]),                      # 2 YYYYMMDD
        ref.join([ref.zfill(d, 1), ref.zfill(m, 1), yyyy], "/"),  # 3 D/M/YYYY
        ref.join([dd, mm, yyyy], "-"),                 # 4 DD-MM-YYYY
        ref.join([pa.array(np.full(n, "00/00"), pa.string()), yyyy], "/"),  # 5 00/00/YYYY
        yyyy,                                          # 6 YYYY
        ref.join([pa.array(np.full(n, "00"), pa.string()), mm, yyyy], "/"),  # 7 00/MM/YYYY
        ref.join([yyyy, mm], "-"),                     # 8 YYYY-MM
    ]
    code = rng.choice(5, size=n, p=[0.55, 0.25, 0.10, 0.05, 0.05])
    k = unknown.sum()
    code[unknown] = rng.choice([0, 5, 6], size=k, p=[0.4, 0.35, 0.25])
    code[day_unknown] = rng.choice([0, 7, 8], size=day_unknown.sum(), p=[0.3, 0.45, 0.25])
    out = np.empty(n, dtype=object)
    for c, arr in enumerate(formats):
        sel = code == c
        if sel.any():
            out[sel] = ref.to_numpy_str(arr.filter(pa.array(sel)))
    noise = {"dob_format": code, "dob_swapped": swap, "dob_partial": code >= 5,
             "year_error": year_error, "day_error": day_error}
    return out, noise


def render_register(rng: np.random.Generator, people: dict, idx: np.ndarray, cfg) -> dict:
    """Source ``personnes`` identity columns (register quality: upper case, no accents,
    birth and usage names, all first names, ISO dates with abroad placeholders)."""
    n = len(idx)
    nom = people["surname"][idx].copy()
    typo_mask = rng.random(n) < cfg.register_name_typo
    for i in np.flatnonzero(typo_mask):
        nom[i] = typo(nom[i], rng)
    nom = ref.to_numpy_str(ref.strip_accents(nom))
    usage = people["usage"][idx]
    prenoms = ref.to_numpy_str(ref.strip_accents(ref.join(
        [people["first1"][idx], people["first2"][idx], people["first3"][idx]], " ")))
    y, m, d = (people[k][idx].copy() for k in ("year", "month", "day"))
    quality = people["dob_quality"][idx]
    m[quality == "unknown"] = 1
    d[quality != "full"] = 1
    err = (rng.random(n) < cfg.register_dob_error) & (quality == "full")
    d[err] = np.where(d[err] < 28, d[err] + 1, d[err] - 1)
    dob = ref.to_numpy_str(ref.join([ref.zfill(y, 4), ref.zfill(m, 2), ref.zfill(d, 2)], "-"))
    nir = people["nir"][idx].copy()
    nir[rng.random(n) < cfg.source_nir_missing] = None
    moved = rng.random(n) < cfg.postcode_moved
    cp = people["code_postal"][idx].copy()
    cp[moved] = people["code_postal"][rng.integers(0, len(people["code_postal"]), moved.sum())]
    return {"nir": nir, "nom_naissance": nom,
            "nom_usage": np.where(np.array([u is not None for u in usage]),
                                  ref.to_numpy_str(ref.strip_accents(
                                      np.where([u is not None for u in usage], usage, ""))),
                                  None),
            "prenoms": prenoms, "sexe": people["sex"][idx].astype(str).astype(object),
            "date_naissance": dob, "commune_naissance": people["commune"][idx],
            "pays_naissance": people["country"][idx], "code_postal": cp}
