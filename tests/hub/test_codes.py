"""Unified social credit codes (GB 32100) and administrative area codes (GB/T 2260)."""

from __future__ import annotations

import pytest

from hub.codes import (
    CREDIT_CODE_CHARS,
    area_code_problem,
    credit_code_check_digit,
    credit_code_problem,
)


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # a published enterprise code (Fujian, Fuzhou)
        "91610115MA6W123458",  # the demo cold-chain company
        "11510117MB0873952F",  # a government department (registration authority 1, type 1)
        "1251011745071836XL",  # a public institution whose organisation code ends in X
    ],
)
def test_valid_credit_codes(code: str) -> None:
    assert credit_code_problem(code) is None


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        ("91350100M000100Y4", "3"),
        ("91610115MA6W12345", "8"),
        ("11510117MB0873952", "F"),
        ("9135010000000001R", "0"),  # weighted sum 930 = 30 * 31: check 0, not 31
    ],
)
def test_check_digit(first17: str, check: str) -> None:
    assert credit_code_check_digit(first17) == check


def test_every_check_character_is_allowed() -> None:
    # Varying the last of the 17 characters walks through all 31 remainders.
    checks = {credit_code_check_digit("9135010000000000" + c) for c in CREDIT_CODE_CHARS}
    assert checks == set(CREDIT_CODE_CHARS)


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("91350100M000100Y44", "check digit is 3, not 4"),
        ("91610115MA6W12345X", "check digit is 8, not X"),
        ("91350100M000100Y4", "must be 18 characters, got 17"),
        ("91350100M000100Y433", "must be 18 characters, got 19"),
        ("", "must be 18 characters, got 0"),
        ("91350100I000100Y43", "character(s) 'I' not allowed"),
        ("91350100O000100Y43", "character(s) 'O' not allowed"),
        ("91350100S000100Y43", "character(s) 'S' not allowed"),
        ("91350100V000100Y43", "character(s) 'V' not allowed"),
        ("91350100Z000100Y43", "character(s) 'Z' not allowed"),
        ("91350100ZO00100Y43", "character(s) 'O', 'Z' not allowed"),
        ("91350100m000100y43", "character(s) 'm', 'y' not allowed"),
        ("91350100-000100Y43", "character(s) '-' not allowed"),
        ("9135A100M000100Y43", "characters 3-8 must be the 6-digit area code, got '35A100'"),
        ("91MA0100M000100Y43", "characters 3-8 must be the 6-digit area code, got 'MA0100'"),
    ],
)
def test_invalid_credit_codes(code: str, problem: str) -> None:
    found = credit_code_problem(code)
    assert found is not None
    assert found.startswith(problem)


def test_forbidden_letters_message_names_the_alphabet() -> None:
    assert "without I, O, S, V, Z" in (credit_code_problem("91350100I000100Y43") or "")


@pytest.mark.parametrize(
    "code",
    [
        "110000",  # Beijing, province level
        "110101",  # Beijing Dongcheng
        "320106",  # Nanjing Gulou
        "440305",  # Shenzhen Nanshan
        "510117",  # Chengdu Pidu
        "610115",  # Xi'an Lintong
        "650100",  # Urumqi, city level
        "710000",  # Taiwan
        "820000",  # Macao
    ],
)
def test_valid_area_codes(code: str) -> None:
    assert area_code_problem(code) is None


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("990101", "province prefix 99 does not exist in GB/T 2260"),
        ("000000", "province prefix 00 does not exist in GB/T 2260"),
        ("240101", "province prefix 24 does not exist in GB/T 2260"),
        ("61011", "must be 6 digits, got '61011'"),
        ("6101150", "must be 6 digits, got '6101150'"),
        ("", "must be 6 digits, got ''"),
        ("61011A", "must be 6 digits, got '61011A'"),
        ("61-115", "must be 6 digits, got '61-115'"),
        ("6101 5", "must be 6 digits, got '6101 5'"),
        ("610015", "a county code needs a city part (digits 3-4 are 00)"),
        ("110001", "a county code needs a city part (digits 3-4 are 00)"),
    ],
)
def test_invalid_area_codes(code: str, problem: str) -> None:
    assert area_code_problem(code) == problem
