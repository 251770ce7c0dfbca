"""Date-times from partners and RPC clients, parsed one way on every supported Python.

One parser: python-dateutil's ``isoparse`` (installed with Odoo). ``datetime.fromisoformat``
changed in Python 3.11: on 3.10, which Odoo 19 supports, it refuses the ``Z`` suffix and
fractions of more than 6 digits that 3.11 accepts.
"""

from datetime import datetime, timedelta, timezone

from dateutil.parser import isoparse

# The window of plausible event times: no partner reports a shipment milestone from before
# 2000, and a source clock more than a day ahead of Odoo's is wrong (a time zone sent as UTC,
# a date typed by hand), not early.
EARLIEST_EVENT_TIME = datetime(2000, 1, 1)
FUTURE_TOLERANCE = timedelta(days=1)


def parse_iso8601(text):
    """An ISO 8601 date-time string as a datetime (aware when the text has an offset).

    :raises ValueError: when the text is not an ISO 8601 date-time
    """
    return isoparse(text.strip())


def event_time(value, now=None):
    """When an event occurred, as a naive UTC datetime (how Odoo stores date-times).

    :param value: an ISO 8601 string with a UTC offset (``2026-11-22T10:00:00+01:00``, ``…Z``),
        or a naive datetime, taken as UTC: what XML-RPC's ``dateTime.iso8601`` carries, which
        has no offset, by Odoo's convention for naive date-times
    :param now: Odoo's current time (naive UTC), for the window's upper end
    :raises ValueError: with a message to put after the field's name, which says what is
        wrong and what was sent (``has no UTC offset: '2026-11-22 10:00'``): not a
        date-time, no UTC offset, out of the datetime range once converted to UTC
        (``0001-01-01T00:00:00+01:00``), or outside the window of plausible times (not before
        2000-01-01, not more than a day ahead of now)
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = parse_iso8601(value)
        except (ValueError, OverflowError):
            raise ValueError(f"is not an ISO 8601 date-time: {value!r}") from None
        if moment.tzinfo is None:
            raise ValueError(f"has no UTC offset: {value!r}")
    else:
        raise ValueError(
            "must be an ISO 8601 date-time string with a UTC offset (e.g. "
            f"2026-11-22T10:00:00+01:00), got {type(value).__name__}: {value!r}"
        )
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:
            raise ValueError(f"is out of range once converted to UTC: {value!r}") from None
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    if moment < EARLIEST_EVENT_TIME:
        raise ValueError(f"is before 2000-01-01, outside the plausible window: {value!r}")
    if moment > now + FUTURE_TOLERANCE:
        raise ValueError(
            f"is more than a day ahead of Odoo's clock ({now.isoformat(timespec='seconds')}Z), "
            f"outside the plausible window: {value!r}"
        )
    return moment
