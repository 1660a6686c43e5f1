"""Dates as AIS exchanges them: in the date format of the AIS user the token belongs to.

A date given to an orchestration as a String input reaches the EnterpriseOne form field it is
mapped to, which reads it in that user's format. The token response names the format twice
(Oracle, "Example: Acceptable Output for the token request Service in JSON Response" and the
REST API's "Request a Token v2" example): ``userInfo.simpleDateFormat`` is a Java
SimpleDateFormat pattern (``MM/dd/yyyy``, ``dd/MM/yyyy``), and ``userInfo.dateFormat`` with
``userInfo.dateSeperator`` (sic) is the user profile's order code and separator (``MDE`` + ``/``,
``DME`` + ``/``). The pattern is taken first; the code is read with D = day, M = month,
E = four-digit year (both shown by Oracle's examples) and Y = two-digit year (inferred).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

#: Pattern letters a date format may use, with the widths accepted for each.
_FIELDS = {"y": (4, 2), "M": (2, 1), "d": (2, 1)}
_CODE_LETTERS = {"D": "dd", "M": "MM", "E": "yyyy", "Y": "yy"}
#: Java SimpleDateFormat's default century for two-digit years: from 80 years back to 20 ahead.
_YEARS_AHEAD = 20


@dataclass(frozen=True)
class JdeDateFormat:
    """One date format in JDE's own notation (a Java SimpleDateFormat pattern of day, month and year)."""

    pattern: str
    _parts: tuple[tuple[str, int] | str, ...] = field(repr=False, compare=False)
    _regex: re.Pattern[str] = field(repr=False, compare=False)

    @classmethod
    def from_pattern(cls, pattern: str) -> JdeDateFormat:
        """``dd/MM/yyyy`` and the like; ValueError for anything but one day, month and year field."""
        parts: list[tuple[str, int] | str] = []
        regex = ""
        index = 0
        while index < len(pattern):
            char = pattern[index]
            if char == "'":
                end = pattern.find("'", index + 1)
                if end < 0:
                    raise ValueError(f"date pattern {pattern!r} has an unclosed quote")
                literal = pattern[index + 1 : end] or "'"
                parts.append(literal)
                regex += re.escape(literal)
                index = end + 1
                continue
            run = len(pattern[index:]) - len(pattern[index:].lstrip(char))
            if char.isalpha():
                if char not in _FIELDS or run not in _FIELDS[char]:
                    raise ValueError(f"date pattern {pattern!r}: {char * run!r} is not a day, month or year field")
                parts.append((char, run))
                digits = rf"\d{{{run}}}" if char == "y" else r"\d{1,2}"
                regex += f"(?P<{char}>{digits})"
            else:
                parts.append(char * run)
                regex += re.escape(char * run)
            index += run
        letters = sorted(part[0] for part in parts if isinstance(part, tuple))
        if letters != ["M", "d", "y"]:
            raise ValueError(f"date pattern {pattern!r} must hold one day (d), month (M) and year (y) field")
        return cls(pattern, tuple(parts), re.compile(regex))

    @classmethod
    def from_code(cls, code: str, separator: str) -> JdeDateFormat:
        """A user profile's date format code (``DME``) and separator (``.``) as a pattern (``dd.MM.yyyy``)."""
        letters = code.strip().upper()
        if len(letters) != 3 or any(letter not in _CODE_LETTERS for letter in letters):
            raise ValueError(f"JDE date format code {code!r} is not three of D, M, E and Y")
        if any(char.isalpha() or char == "'" for char in separator):
            raise ValueError(f"JDE date separator {separator!r} is not a punctuation character")
        return cls.from_pattern(separator.join(_CODE_LETTERS[letter] for letter in letters))

    @classmethod
    def from_user_info(cls, user_info: Mapping[str, Any]) -> JdeDateFormat | None:
        """The user's format from a token response's ``userInfo``, or None when it names none usable."""
        pattern = user_info.get("simpleDateFormat")
        if isinstance(pattern, str) and pattern.strip():
            try:
                return cls.from_pattern(pattern.strip())
            except ValueError:
                pass
        code, separator = user_info.get("dateFormat"), user_info.get("dateSeperator")
        if isinstance(code, str) and isinstance(separator, str):
            try:
                return cls.from_code(code, separator)
            except ValueError:
                return None
        return None

    def format(self, value: date) -> str:
        out = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
                continue
            letter, width = part
            number = {"y": value.year, "M": value.month, "d": value.day}[letter]
            if letter == "y" and width == 2:
                number %= 100
            out.append(f"{number:0{width}d}")
        return "".join(out)

    def parse(self, text: str) -> date:
        """The date ``text`` shows in this format; ValueError when it is not one."""
        match = self._regex.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a date in the format {self.pattern}")
        year = int(match["y"])
        if len(match["y"]) == 2:
            year = _full_year(year, date.today().year)
        return date(year, int(match["M"]), int(match["d"]))


def _full_year(two_digits: int, this_year: int) -> int:
    year = this_year - this_year % 100 + two_digits
    if year > this_year + _YEARS_AHEAD:
        year -= 100
    elif year <= this_year + _YEARS_AHEAD - 100:
        year += 100
    return year
