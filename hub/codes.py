"""Chinese administrative identifiers: unified social credit codes and area codes.

Each checker returns ``None`` for a valid code or a sentence saying what is wrong, so that
the config layer and the API can show it next to the field that holds the code.
"""

from __future__ import annotations

# GB 32100-2015: 31 characters, no I, O, S, V, Z.
CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = [pow(3, i, 31) for i in range(17)]

# GB/T 2260 province-level prefixes (the first two digits of every area code).
PROVINCE_PREFIXES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82",
    }
)  # fmt: skip


def credit_code_check_digit(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a credit code."""
    total = sum(CREDIT_CODE_CHARS.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    """Why ``code`` is not a valid unified social credit code, or None when it is."""
    if len(code) != 18:
        return f"must be 18 characters, got {len(code)}"
    bad = sorted({c for c in code if c not in CREDIT_CODE_CHARS})
    if bad:
        listed = ", ".join(repr(c) for c in bad)
        return f"character(s) {listed} not allowed (GB 32100 uses 0-9 and A-Y without I, O, S, V, Z)"
    area = code[2:8]
    if not area.isdigit():
        return f"characters 3-8 must be the 6-digit area code, got {area!r}"
    expected = credit_code_check_digit(code[:17])
    if code[17] != expected:
        return f"check digit is {expected}, not {code[17]}"
    return None


def area_code_problem(code: str) -> str | None:
    """Why ``code`` is not a GB/T 2260 six-digit area code, or None when it is."""
    if len(code) != 6 or not code.isdigit():
        return f"must be 6 digits, got {code!r}"
    if code[:2] not in PROVINCE_PREFIXES:
        return f"province prefix {code[:2]} does not exist in GB/T 2260"
    if code[2:4] == "00" and code[4:6] != "00":
        return "a county code needs a city part (digits 3-4 are 00)"
    return None
