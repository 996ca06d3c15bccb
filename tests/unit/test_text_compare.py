"""The script-aware comparison: (locale, expected, OCR lines, should pass, why), one row per rule."""

import pytest

from pipelines.text.compare import closest, find

CASES = [
    # --- what must pass -------------------------------------------------------------------------
    ("de", "Gebrüht für Macher", ["Gebrüht für", "Macher"], True, "line break ignored"),
    ("de", "Gebrüht für Macher", ["GEBRÜHT FÜR MACHER"], True, "case ignored"),
    ("de", "Gebrüht für Macher", ["Gebru\u0308ht fu\u0308r Macher"], True, "NFD reading == NFC expected"),
    ("de", "Gebrüht für Macher", ["DRAFT · launch_poster/de", "Gebrüht für", "Macher."], True, "other text around"),
    ("de", "Größer", ["GRÖSSER"], True, "ß as SS in a reading set in capitals (the official rule)"),
    ("de", "Kleine Charge. Große Morgen.", ["KLEINE CHARGE. GROSSE MORGEN."], True, "SS across a capitals line"),
    ("de", "Größer", ["GRÖẞER"], True, "capital ẞ"),
    ("fr", "Façonné pour l’été", ["Façonné pour l'été"], True, "typographic apostrophe"),
    ("fr", "Café « crème »", ["Café \"crème\""], True, "punctuation ignored"),
    ("de", "Preis: 39 €", ["Preis 39€"], True, "currency kept, spacing ignored"),
    ("ar", "السعر ٣٩", ["السعر 39"], True, "digits by value"),
    ("zh-CN", "为创造者而酿", ["为 创 造 者 而 酿"], True, "Tesseract spaces between ideographs"),
    ("zh-CN", "小批量，大清晨。", ["小批量,大清晨."], True, "fullwidth punctuation"),
    ("ja", "春のブレンド", ["春のﾌﾞﾚﾝﾄﾞ"], True, "halfwidth katakana folds (NFKC)"),
    ("ja", "春のブレンド", ["春のフ\u3099レント\u3099"], True, "combining dakuten composes"),
    ("ko", "봄 한정 블렌드", ["봄한정블렌드"], True, "Hangul, spaces ignored"),
    ("tr", "İstanbul ılık", ["İSTANBUL ILIK"], True, "Turkish dotted capital İ == i, I == ı"),
    ("el", "Ανοιξιάτικο χαρμάνι", ["ΑΝΟΙΞΙΑΤΙΚΟ ΧΑΡΜΑΝΙ"], True, "Greek capitals drop the tonos"),
    ("el", "τσαγιού σας", ["ΤΣΑΓΙΟΥ ΣΑΣ"], True, "final sigma"),
    ("el", "χαρμάνι", ["χαρµάνι"], True, "micro sign read for mu (NFKC)"),
    ("ar", "مُزِيج الرَّبِيع", ["مزيج الربيع"], True, "harakat optional"),
    ("ar", "مزيج الربيع", ["ﻣﺰﻳﺞ ﺍﻟﺮﺑﻴﻊ"], True, "presentation forms fold (NFKC)"),
    ("ar", "مزيج الربيع", ["مزيـــج الربيع"], True, "tatweel (kashida) ignored"),
    ("he", "תַּעֲרֹבֶת", ["תערבת"], True, "niqqud optional"),
    ("hi", "ताज़ा", ["ताज़ा"], True, "precomposed ज़ (U+095B) == ज + nukta"),
    ("vi", "Cà phê sữa đá", ["Ca\u0300 phe\u0302 su\u031b\u0303a đa\u0301"], True, "decomposed Vietnamese"),
    ("th", "ชาผสมฤดูใบไม้ผลิ", ["ชาผสม ฤดูใบไม้ผลิ"], True, "Thai, a space in the reading"),
    # --- what must fail: diacritics ------------------------------------------------------------
    ("de", "Gebrüht für Macher", ["Gebruht fur Macher"], False, "ü read as u"),
    ("de", "Maße", ["Masse"], False, "ß is not ss in mixed case"),
    ("de", "Größer", ["Grösser"], False, "Swiss ss is not ß in a mixed-case reading"),
    ("de", "Größer", ["GRÖSSER", "Grösser"][1:], False, "only the capitals reading may spell SS"),
    ("de", "Größer", ["GROSSER"], False, "capitals still need the umlaut"),
    ("pl", "Źródło świeżej kawy", ["Zrodlo swiezej kawy"], False, "Polish marks dropped"),
    ("pl", "żal", ["zal"], False, "one mark dropped"),
    ("vi", "Cà phê sữa đá", ["Cà phê sửa đá"], False, "wrong Vietnamese tone mark"),
    ("tr", "ılık", ["ilik"], False, "dotless ı is a letter"),
    ("el", "Ανοιξιάτικο", ["Ανοιξιατικο"], False, "lowercase Greek needs its tonos"),
    ("ja", "春のブレンド", ["春のフレンド"], False, "dakuten missing (ブ vs フ)"),
    ("th", "ไม้", ["ไม"], False, "Thai tone mark missing"),
    ("hi", "ताज़ा", ["ताजा"], False, "nukta missing"),
    ("zh-TW", "為創造者而釀", ["为创造者而酿"], False, "simplified where traditional expected"),
    # --- what must fail: spelling (one letter wrong, missing, extra, swapped) ---------------------
    ("de", "Gebrüht für Macher", ["Gebrüht für Mascher"], False, "extra letter"),
    ("de", "Gebrüht für Macher", ["Gebrüht für Mcher"], False, "missing letter"),
    ("de", "Gebrüht für Macher", ["Gebrüht für Mahcer"], False, "swapped letters"),
    ("de", "Gebrüht für Macher", ["Gebrüht für Machen"], False, "wrong letter"),
    ("de", "Gebrüht für Macher", ["Gebrüht für Machers"], False, "extra letter glued at the end"),
    ("de", "Gebrüht für Macher", ["XGebrüht für Macher"], False, "extra letter glued at the start"),
    ("de", "Preis: 39 €", ["Preis: 38 €"], False, "wrong digit"),
    ("en", "SALE 50%", ["SALE 5O%"], False, "O is not 0"),
    ("ru", "Весенний чайный сбор", ["Весени й чайный сбор"], False, "missing letter (the old draft's break)"),
    ("ru", "Весенний", ["Becенний"], False, "Latin look-alikes are not Cyrillic"),
    ("zh-CN", "为创造者而酿", ["为创造者酿"], False, "missing character"),
    ("zh-CN", "为创造者而酿", ["为造创者而酿"], False, "swapped characters"),
    ("ko", "봄 한정 블렌드", ["봄 한정 블랜드"], False, "wrong Hangul syllable"),
    ("ar", "مزيج الربيع", ["مزيج الربيغ"], False, "one Arabic letter wrong (ع/غ)"),
    ("ar", "مزيج الربيع", ["عيبرلا جيزم"], False, "visual order is not logical order"),
    ("he", "תערובת האביב", ["תערובת האביכ"], False, "one Hebrew letter wrong"),
    ("th", "ชาผสม", ["ชาพสม"], False, "one Thai letter wrong"),
    ("hi", "वसंत की चाय", ["वसत की चाय"], False, "anusvara missing"),
    ("el", "χαρμάνι", ["χαρμάνυ"], False, "one Greek letter wrong"),
    ("de", "Gebrüht", [], False, "nothing read"),
]


@pytest.mark.parametrize("locale,expected,lines,ok,why", CASES, ids=[c[4] for c in CASES])
def test_find(locale, expected, lines, ok, why):
    match = find(expected, lines, locale)
    assert match.ok is ok, (why, match)
    if not ok:
        assert match.distance >= 1 or match.notes, match


def test_a_failure_names_the_closest_part_of_the_reading():
    m = find("Gebrüht für Macher", ["DRAFT", "Gebrüht für Mascher"], "de")
    assert (m.ok, m.closest, m.distance) == (False, "gebrühtfürmascher", 1)
    assert closest("macher", "gebrühtfürmascher") == (1, "mascher")


def test_text_without_letters_or_digits_has_nothing_to_check():
    assert find("!!!", ["hello"], "en").ok
