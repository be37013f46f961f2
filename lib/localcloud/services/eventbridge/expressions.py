"""Schedule expressions, and when each next fires: ``rate(value unit)``, ``cron(minutes hours day-of-month month
day-of-week year)`` and Scheduler's one-time ``at(yyyy-mm-ddThh:mm:ss)`` ("Schedule types in EventBridge
Scheduler", Scheduler user guide; "Creating a rule that runs on a schedule", EventBridge user guide).

AWS's cron is not Unix cron (a year field, ``?`` for the unused day field, day-of-week 1-7 from SUN, ``L``, ``W``
and ``#``), so it is evaluated here rather than translated for a Unix cron library. Times are evaluated in the
schedule's time zone (``ScheduleExpressionTimezone``; rules use UTC) with :mod:`zoneinfo`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
#: how far ahead a cron expression is searched for its next time
_HORIZON_DAYS = 366 * 8


class ExpressionError(ValueError):
    """A schedule expression AWS would not accept."""


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    out: set[int] = set()
    for part in field.upper().split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _number(a, names), _number(b, names)
        else:
            start = _number(part, names)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high) or step < 1:
            raise ExpressionError(f"value out of range in '{field}'")
        out.update(range(start, end + 1, step))
    return out


def _number(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ExpressionError(f"'{text}' is not a valid value")
    return int(text)


@dataclass(frozen=True)
class Cron:
    minutes: set[int]
    hours: set[int]
    dom: str
    months: set[int]
    dow: str
    years: set[int]

    @classmethod
    def parse(cls, body: str) -> Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ExpressionError("a cron expression has six fields: minutes hours day-of-month month "
                                  "day-of-week year")
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ExpressionError("one of day-of-month and day-of-week must be '?', and only one")
        return cls(_values(minute, 0, 59), _values(hour, 0, 23), dom.upper(),
                   _values(month, 1, 12, {k.upper(): v for k, v in _MONTHS.items()}), dow.upper(),
                   _values(year, 1970, 2199))

    def _day_matches(self, day: datetime) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        if self.dom != "?":
            return _dom_matches(self.dom, day, last)
        return _dow_matches(self.dow, day, last)

    def next_after(self, after: datetime) -> datetime | None:
        """The first time strictly after ``after`` (aware, in the schedule's zone) that the expression names."""
        zone = after.tzinfo
        day = after.replace(hour=0, minute=0, second=0, microsecond=0)
        for _ in range(_HORIZON_DAYS):
            if day.year in self.years and day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                        if moment > after:
                            return moment
            day = (day + timedelta(days=1)).replace(hour=0, minute=0)
            if day.year > max(self.years):
                return None
        return None


def _dom_matches(field: str, day: datetime, last: int) -> bool:
    if field == "L":
        return day.day == last
    if field == "LW":
        return day.day == _nearest_weekday(day, last, last)
    if field.endswith("W"):
        return day.day == _nearest_weekday(day, int(field[:-1]), last)
    return day.day in _values(field, 1, 31)


def _nearest_weekday(day: datetime, target: int, last: int) -> int:
    """The weekday nearest to day ``target`` of the month, not leaving the month (cron's ``W``)."""
    target = min(target, last)
    weekday = datetime(day.year, day.month, target).weekday()  # Monday 0
    if weekday == 5:
        return target - 1 if target > 1 else target + 2
    if weekday == 6:
        return target + 1 if target < last else target - 2
    return target


def _dow_matches(field: str, day: datetime, last: int) -> bool:
    aws_dow = (day.weekday() + 1) % 7 + 1  # Monday 0 -> 2 ... Sunday 6 -> 1
    if "#" in field:
        name, nth = field.split("#", 1)
        return aws_dow == _number(name, _DAYS) and (day.day - 1) // 7 + 1 == int(nth)
    if field.endswith("L") and field != "L":
        return aws_dow == _number(field[:-1], _DAYS) and day.day + 7 > last
    if field == "L":
        return aws_dow == 7
    return aws_dow in _values(field, 1, 7, _DAYS)


@dataclass(frozen=True)
class Expression:
    """A parsed schedule expression: a fixed period, a cron, or one moment."""

    text: str
    period: timedelta | None = None
    cron: Cron | None = None
    at: datetime | None = None

    @classmethod
    def parse(cls, text: str, zone: str | None = None) -> Expression:
        text = (text or "").strip()
        if match := _RATE.match(text):
            value = int(match.group(1))
            if value < 1:
                raise ExpressionError("a rate must be a positive number")
            return cls(text, period=timedelta(seconds=value * _UNIT[match.group(2).rstrip("s")]))
        if match := _CRON.match(text):
            return cls(text, cron=Cron.parse(match.group(1)))
        if match := _AT.match(text):
            return cls(text, at=datetime.fromisoformat(match.group(1)).replace(tzinfo=timezone(zone)))
        raise ExpressionError(f"invalid schedule expression: {text}")


def timezone(name: str | None) -> tzinfo:
    """The zone a schedule is evaluated in (UTC when none is given)."""
    if not name or name.upper() == "UTC":
        return UTC
    return ZoneInfo(name)
