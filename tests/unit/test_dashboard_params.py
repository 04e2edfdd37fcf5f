"""The dashboard's range parameters (usagestream.http.views.dashboard_params), without a server: the order
preset, dates, `days`, default; the local days of the request's zone; Aether's 400s."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from multidict import MultiDict

from usagestream.http.errors import ApiError
from usagestream.http.views.dashboard_params import dashboard_days

NOW = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # already April 1st east of +01:30, still March 31st in UTC
UTC_ZONE = ZoneInfo("UTC")


def days(daily: bool, **q: str) -> tuple[date, date, date]:
    found = dashboard_days(MultiDict(q), UTC_ZONE, NOW, daily=daily)
    return found.first, found.last, found.today


def test_the_defaults_this_month_and_the_last_seven_days() -> None:
    assert days(False) == (date(2026, 3, 1), date(2026, 3, 31), date(2026, 3, 31))
    assert days(True) == (date(2026, 3, 25), date(2026, 3, 31), date(2026, 3, 31))


def test_the_days_are_the_request_zones() -> None:
    tokyo = (date(2026, 4, 1), date(2026, 4, 1), date(2026, 4, 1))
    assert days(False, timezone="Asia/Tokyo") == tokyo  # a new month there: this month is one day
    assert days(False, tz_offset_minutes="540") == tokyo
    assert days(True, preset="last7days", timezone="Asia/Kolkata")[:2] == (date(2026, 3, 26), date(2026, 4, 1))
    found = dashboard_days(MultiDict(tz_offset_minutes="330"), UTC_ZONE, NOW, daily=True)
    assert found.zone == timezone(timedelta(minutes=330))
    assert found.span(date(2026, 4, 1), date(2026, 4, 1))[0] == datetime(2026, 3, 31, 18, 30, tzinfo=UTC)


def test_preset_then_dates_then_days() -> None:
    assert days(True, preset="yesterday", days="5")[:2] == (date(2026, 3, 30), date(2026, 3, 30))
    assert days(True, start_date="2026-01-01", end_date="2026-01-03", days="5")[:2] == (
        date(2026, 1, 1),
        date(2026, 1, 3),
    )
    assert days(True, days="1")[:2] == (date(2026, 3, 31), date(2026, 3, 31))
    assert days(False, days="365")[0] == date(2025, 4, 1)
    assert days(True, preset="", days="2")[:2] == (date(2026, 3, 30), date(2026, 3, 31))  # empty = absent


@pytest.mark.parametrize(
    ("daily", "q", "message"),
    [
        (True, {"days": "31"}, "days must be between 1 and 30"),
        (False, {"days": "0"}, "days must be between 1 and 365"),
        (False, {"days": "1.5"}, "days must be between 1 and 365"),
        (True, {"start_date": "2026-01-01"}, "start_date and end_date must be provided together"),
        (True, {"start_date": "2026-01-01", "end_date": "2026-01-02T00:00"}, "end_date must be a valid date"),
        (False, {"preset": "today", "end_date": "2026-01-02"}, "preset cannot be combined"),
    ],
)
def test_refusals_are_400(daily: bool, q: dict[str, str], message: str) -> None:
    with pytest.raises(ApiError) as caught:
        dashboard_days(MultiDict(q), UTC_ZONE, NOW, daily=daily)
    assert caught.value.status == 400 and message in str(caught.value)
