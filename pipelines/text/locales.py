"""Which OCR language reads a locale, and how to install it.

The engine is Tesseract (pipelines.text.ocr); its language data comes from the system, one file
per language (`<tessdata>/<code>.traineddata`), installed on Debian/Ubuntu by the package
`tesseract-ocr-<code with _ as ->`. A locale is looked up as written (`zh-TW`), then as
language-script (`zh-Hant`), then by its language alone (`de` for `de-AT`).

To add a language: add a row to LANGUAGES (the locale's language code -> Tesseract's code), a
headline in that script to tests/text_samples.py, and install the package (Tesseract's code is
the name of its data file; `apt-cache search tesseract-ocr-` lists them).
"""

from __future__ import annotations

from dataclasses import dataclass

# Rows with a headline in tests/text_samples.py are read back from draft posters by the tests;
# the other rows are the same engine and package scheme, not measured here.
LANGUAGES: dict[str, str] = {
    # Latin with its diacritics
    "en": "eng", "de": "deu", "fr": "fra", "es": "spa", "pl": "pol", "tr": "tur", "vi": "vie",
    "it": "ita", "pt": "por", "nl": "nld", "sv": "swe", "da": "dan", "nb": "nor", "no": "nor",
    "fi": "fin", "cs": "ces", "sk": "slk", "hu": "hun", "ro": "ron", "hr": "hrv", "sl": "slv",
    "lt": "lit", "lv": "lav", "et": "est", "id": "ind", "ms": "msa", "ca": "cat",
    # Cyrillic, Greek
    "ru": "rus", "uk": "ukr", "bg": "bul", "sr": "srp", "el": "ell",
    # CJK: Chinese by script (zh-CN/zh-SG simplified, zh-TW/zh-HK/zh-MO traditional)
    "zh": "chi_sim", "zh-Hans": "chi_sim", "zh-CN": "chi_sim", "zh-SG": "chi_sim",
    "zh-Hant": "chi_tra", "zh-TW": "chi_tra", "zh-HK": "chi_tra", "zh-MO": "chi_tra",
    "ja": "jpn", "ko": "kor",
    # right to left
    "ar": "ara", "he": "heb", "fa": "fas", "ur": "urd",
    # South and South-East Asia
    "th": "tha", "hi": "hin", "mr": "mar", "bn": "ben", "ta": "tam", "te": "tel",
}


@dataclass(frozen=True)
class Language:
    locale: str
    code: str  # Tesseract's language code: the name of its .traineddata file

    @property
    def package(self) -> str:
        """The Debian/Ubuntu package holding the language data."""
        return "tesseract-ocr-" + self.code.replace("_", "-").lower()

    @property
    def install(self) -> str:
        return f"apt-get install {self.package}"


def language(locale: str | None) -> Language | None:
    """The OCR language of `locale`, or None when no row covers it. No locale reads English."""
    loc = (locale or "en").replace("_", "-")
    parts = loc.split("-")
    candidates = [loc]
    if len(parts) > 2:
        candidates.append("-".join(parts[:2]))  # zh-Hant-TW -> zh-Hant
    candidates.append(parts[0])
    for c in candidates:
        for key, code in LANGUAGES.items():
            if key.lower() == c.lower():
                return Language(loc, code)
    return None
