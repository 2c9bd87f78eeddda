"""Parse time expressions in a question into a validity window, without a model.

``parse_window("What did Ana do last summer?", now)`` returns the window of the most
recent summer before ``now``. Understood (case-insensitive; numbers as digits or words
up to twelve, "a", "a couple of", "a few"):

| expression | window |
|---|---|
| ``today``, ``yesterday``, ``last night``, ``tonight`` | that day |
| ``this``/``last`` ``week``/``month``/``year`` | that calendar week (Mon–Sun), month or year |
| ``this``/``last`` ``spring``/``summer``/``autumn``/``fall``/``winter`` | that season (northern: Mar–May, Jun–Aug, Sep–Nov, Dec–Feb) |
| ``N days/weeks/months/years ago`` | the day, week, month or year N units before ``now`` |
| ``recently``, ``lately`` | the 30 days before ``now`` |
| ``in May 2023``, ``May 2023``, ``in May`` | that month (a bare month: its latest occurrence up to ``now``) |
| ``in 2022``, ``during 2022`` | that year |
| ``on 8 May 2023``, ``8 May, 2023``, ``May 8, 2023``, ``May 8th``, ``2023-05-08`` | that day |
| ``N days/weeks/months before <date>``, ``the week before <date>`` | the N units before that date |
| ``N days/weeks/months after <date>``, ``the day after <date>`` | the N units after that date |

The first expression found wins, relative ("before"/"after" a date) before absolute
before deictic ones ("last week"). Windows are half-open ``[start, end)`` in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["TimeWindow", "parse_window"]

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "jan january",
            "feb february",
            "mar march",
            "apr april",
            "may",
            "jun june",
            "jul july",
            "aug august",
            "sep sept september",
            "oct october",
            "nov november",
            "dec december",
        ),
        start=1,
    )
    for name in names.split()
}
_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
            "a couple of": 2, "couple of": 2, "a few": 3, "few": 3, "several": 3}  # fmt: skip
_SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}

_MONTH = r"(?P<{0}>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_NUM = r"(?P<n>\d+|a couple of|couple of|a few|few|several|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_UNIT = r"(?P<unit>day|week|weekend|month|year)s?"
_DAY_MONTH_YEAR = re.compile(
    r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH.format("m") + r"\.?,?\s+(?P<y>\d{4})\b", re.IGNORECASE)  # fmt: skip
_MONTH_DAY_YEAR = re.compile(
    r"\b" + _MONTH.format("m") + r"\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})\b",
    re.IGNORECASE,
)
_ISO = re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b")
_MONTH_DAY = re.compile(
    r"\b" + _MONTH.format("m") + r"\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\b", re.IGNORECASE
)
_DAY_MONTH = re.compile(
    r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH.format("m") + r"\b", re.IGNORECASE
)
_MONTH_YEAR = re.compile(
    r"\b" + _MONTH.format("m") + r"\.?,?\s+(?:of\s+)?(?P<y>\d{4})\b", re.IGNORECASE
)
_IN_MONTH = re.compile(
    r"\b(?:in|during|since)\s+(?:early\s+|late\s+|mid-?)?" + _MONTH.format("m") + r"\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(?:in|during|of|since)\s+(?P<y>(?:19|20)\d{2})\b", re.IGNORECASE)
_RELATIVE = re.compile(
    r"\b(?:the\s+)?(?:" + _NUM + r"\s+)?" + _UNIT + r"\s+(?P<dir>before|after)\b", re.IGNORECASE
)
_AGO = re.compile(r"\b" + _NUM + r"\s+" + _UNIT + r"\s+ago\b", re.IGNORECASE)
_DEICTIC = re.compile(r"\b(?P<which>this|last|past|previous)\s+(?P<what>week|weekend|month|year|spring|summer|autumn|fall|winter)\b", re.IGNORECASE)  # fmt: skip
_DAY_WORD = re.compile(r"\b(?P<w>today|tonight|yesterday|last night)\b", re.IGNORECASE)
_RECENT = re.compile(r"\b(?:recently|lately)\b", re.IGNORECASE)


@dataclass(frozen=True)
class TimeWindow:
    """A half-open time range ``[start, end)`` and the words it was read from."""

    start: datetime
    end: datetime
    expression: str

    def contains(self, when: datetime, slack: timedelta = timedelta(0)) -> bool:
        """Return whether ``when`` falls inside the window widened by ``slack`` on both sides."""
        when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        return self.start - slack <= when < self.end + slack


def _number(text: str | None) -> int:
    if text is None:
        return 1
    text = text.lower()
    return int(text) if text.isdigit() else _NUMBERS.get(text, 1)


def _day(year: int, month: int, day: int) -> datetime | None:
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def _month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def _add_months(when: datetime, months: int) -> datetime:
    start = _month_start(when.year, when.month + months)
    return start.replace(day=min(when.day, 28)) if when.day > 28 else start.replace(day=when.day)


def _span(start: datetime, unit: str, count: int = 1) -> datetime:
    """Return ``start`` moved forward by ``count`` units."""
    if unit == "day":
        return start + timedelta(days=count)
    if unit in ("week", "weekend"):
        return start + timedelta(weeks=count)
    if unit == "month":
        return _add_months(start, count)
    return start.replace(year=start.year + count)


def _anchor(text: str) -> tuple[datetime, str] | None:
    """Return the first full date named in ``text`` (day month year, month day year, ISO)."""
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR, _ISO):
        match = pattern.search(text)
        if match:
            month = match["m"]
            number = int(month) if month.isdigit() else _month_number(month)
            day = _day(int(match["y"]), number, int(match["d"]))
            if day is not None:
                return day, match[0]
    return None


def _month_number(name: str) -> int:
    key = name.lower().rstrip(".")
    return _MONTHS.get(key) or _MONTHS[key[:3]]


def _relative(text: str) -> TimeWindow | None:
    match = _RELATIVE.search(text)
    if not match:
        return None
    anchor = _anchor(text[match.end() :]) or _anchor(text)
    if anchor is None:
        return None
    day, said = anchor
    count, unit = _number(match["n"]), match["unit"].lower()
    if match["dir"].lower() == "before":
        start = day - (_span(day, unit, count) - day)
        return TimeWindow(start, day, f"{match[0]} {said}")
    start = day + timedelta(days=1)
    return TimeWindow(start, _span(start, unit, count), f"{match[0]} {said}")


def _absolute(text: str, now: datetime) -> TimeWindow | None:
    anchor = _anchor(text)
    if anchor is not None:
        day, said = anchor
        return TimeWindow(day, day + timedelta(days=1), said)
    match = _MONTH_YEAR.search(text)
    if match:
        start = _month_start(int(match["y"]), _month_number(match["m"]))
        return TimeWindow(start, _span(start, "month"), match[0])
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        match = pattern.search(text)
        if match:
            month = _month_number(match["m"])
            year = now.year if (month, int(match["d"])) <= (now.month, now.day) else now.year - 1
            day = _day(year, month, int(match["d"]))
            if day is not None:
                return TimeWindow(day, day + timedelta(days=1), match[0])
    match = _IN_MONTH.search(text)
    if match:
        month = _month_number(match["m"])
        start = _month_start(now.year if month <= now.month else now.year - 1, month)
        return TimeWindow(start, _span(start, "month"), match[0])
    match = _YEAR.search(text)
    if match:
        start = datetime(int(match["y"]), 1, 1, tzinfo=UTC)
        return TimeWindow(start, _span(start, "year"), match[0])
    return None


def _deictic(text: str, now: datetime) -> TimeWindow | None:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    match = _DAY_WORD.search(text)
    if match:
        word = match["w"].lower()
        day = today - timedelta(days=1) if word in ("yesterday", "last night") else today
        return TimeWindow(day, day + timedelta(days=1), match[0])
    match = _AGO.search(text)
    if match:
        count, unit = _number(match["n"]), match["unit"].lower()
        if unit == "day":
            start = today - timedelta(days=count)
            return TimeWindow(start, start + timedelta(days=1), match[0])
        if unit in ("week", "weekend"):
            week = today - timedelta(days=today.weekday())
            start = week - timedelta(weeks=count)
            return TimeWindow(start, start + timedelta(weeks=1), match[0])
        if unit == "month":
            start = _month_start(today.year, today.month - count)
            return TimeWindow(start, _span(start, "month"), match[0])
        start = datetime(today.year - count, 1, 1, tzinfo=UTC)
        return TimeWindow(start, _span(start, "year"), match[0])
    match = _DEICTIC.search(text)
    if match:
        back = match["which"].lower() != "this"
        what = match["what"].lower()
        if what in ("week", "weekend"):
            start = today - timedelta(days=today.weekday()) - timedelta(weeks=int(back))
            return TimeWindow(start, start + timedelta(weeks=1), match[0])
        if what == "month":
            start = _month_start(today.year, today.month - int(back))
            return TimeWindow(start, _span(start, "month"), match[0])
        if what == "year":
            start = datetime(today.year - int(back), 1, 1, tzinfo=UTC)
            return TimeWindow(start, _span(start, "year"), match[0])
        first = _SEASONS[what]
        # the season's start in the year "now" falls in (winter starts in the previous December)
        start = _month_start(today.year - (1 if first == 12 and today.month < 12 else 0), first)
        if back and _span(start, "month", 3) > today:
            start = start.replace(year=start.year - 1)
        return TimeWindow(start, _span(start, "month", 3), match[0])
    match = _RECENT.search(text)
    if match:
        return TimeWindow(today - timedelta(days=30), today + timedelta(days=1), match[0])
    return None


def parse_window(text: str, now: datetime) -> TimeWindow | None:
    """Return the time window ``text`` refers to, relative to ``now``, or ``None``.

    Args:
        text: a question or statement.
        now: when it is asked (naive means UTC).

    Example:
        >>> asked = datetime(2023, 10, 2, tzinfo=UTC)
        >>> window = parse_window("Where did Ana go last summer?", asked)
        >>> window.start.date(), window.end.date(), window.expression
        (datetime.date(2023, 6, 1), datetime.date(2023, 9, 1), 'last summer')
    """
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return _relative(text) or _absolute(text, now) or _deictic(text, now)
