import logging
from datetime import timedelta

from prometheus_client.utils import floatToGoString

from odoo import api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

# Upper bounds (seconds) of the delivery-attempt latency histogram's buckets, Prometheus's
# ``le`` (inclusive); "+Inf" holds the rest. From prometheus_client's default buckets
# (5 ms … 10 s), with 30 s added: a partner's read timeout is 30 s by default.
ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30)
# ir.config_parameter keys of the refresh: the last event and attempt ids counted, the time of
# the last run (messages have no growing id for their last state change), and the day of the
# last run: the counters read days before it from here, the rest from the tables.
EVENT_WATERMARK = "logistics_monitoring.counter_day_event_id"
ATTEMPT_WATERMARK = "logistics_monitoring.counter_day_attempt_id"
MESSAGE_WATERMARK = "logistics_monitoring.counter_day_message_changed_at"
COUNTED_DAY = "logistics_monitoring.counter_day_counted_on"
# Rows committed after a run but recorded before it (a long ingest transaction) are caught by
# the next run: it reads again this far below its watermarks.
ID_OVERLAP = 10000
TIME_OVERLAP = timedelta(minutes=30)


def bucket_label_sql(seconds):
    """``SQL`` of the ``le`` label (text, as Prometheus writes it: ``0.005``, ``5.0``) of the
    histogram bucket of ``seconds`` (an SQL expression): the smallest bound at or above it,
    else ``+Inf``."""
    cases = SQL(" ").join(
        SQL("WHEN %s <= %s THEN %s", seconds, bound, floatToGoString(bound))
        for bound in ATTEMPT_BUCKETS
    )
    return SQL("CASE %s ELSE '+Inf' END", cases)


def _todo_span(column):
    """``column`` within the days to count: bounds the scans (the BRIN indexes on recorded_at
    and attempted_at, the finished messages' index) to today and yesterday on a usual run."""
    return SQL(
        "%s >= (SELECT min(day) FROM logistics_counter_day_todo) "
        "AND %s < (SELECT max(day) FROM logistics_counter_day_todo) + 1",
        column,
        column,
    )


class LogisticsCounterDay(models.Model):
    """Daily totals behind the counters and the histogram of ``/logistics/metrics``
    (``logistics_events_total``, the done messages of ``logistics_messages`` and
    ``logistics_delivery_attempt_duration_seconds``).

    A Prometheus counter is a total since the beginning: counting a million events at every
    scrape cost 85 to 125 ms in the benchmark data set, beyond the scrape's 200 ms with the
    rest. The scrape reads the days before the last refresh from here (a few rows per backend
    and day) and the rest from the tables (``logistics.metric._metric_events_total``).

    Kept by the hand-off rollup's cron (``logistics.handoff._cron_refresh``): each run counts
    again, from the tables, today, yesterday and the days of the rows added since its
    watermarks; a day's count is replaced, never added to, so a run is idempotent.
    """

    _name = "logistics.counter.day"
    _description = "Logistics Counters per Day"
    _order = "day desc"
    _log_access = False

    day = fields.Date(required=True, readonly=True, help="UTC day.")
    counter = fields.Selection(
        [
            ("events", "Events recorded"),
            ("messages_done", "Messages done"),
            ("attempts", "Delivery attempts"),
            ("events_deleted", "Events of deleted shipments"),
        ],
        required=True,
        readonly=True,
    )
    backend_id = fields.Many2one("logistics.backend", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    key = fields.Char(
        readonly=True,
        help="Events: the event type code; messages: the direction; attempts: the latency "
        "bucket's upper bound in seconds (Prometheus's le).",
    )
    count = fields.Integer(readonly=True)
    total = fields.Float(
        readonly=True, help="Attempts: the sum of their latencies (seconds); else 0."
    )

    _day_idx = models.Index("(counter, day) INCLUDE (backend_id, company_id, key, count, total)")

    @api.model
    def _refresh(self):
        """Count again today, yesterday and the days of the events, attempts and finished
        messages added since the last run; the first run counts every day.

        :return: the number of days counted (int)
        """
        # The counts are read in SQL: pending ORM writes (a stored related's value) first.
        self.env.flush_all()
        cr = self.env.cr
        params = self.env["ir.config_parameter"].sudo()
        now = fields.Datetime.now()
        event_mark = int(params.get_param(EVENT_WATERMARK, "0") or 0)
        attempt_mark = int(params.get_param(ATTEMPT_WATERMARK, "0") or 0)
        message_mark = fields.Datetime.to_datetime(params.get_param(MESSAGE_WATERMARK) or None)
        cr.execute("SELECT COALESCE(max(id), 0) FROM logistics_event")
        event_top = cr.fetchone()[0]
        cr.execute("SELECT COALESCE(max(id), 0) FROM logistics_message_attempt")
        attempt_top = cr.fetchone()[0]
        message_since = message_mark - TIME_OVERLAP if message_mark else None
        days = self._recount(
            SQL(
                """
                SELECT recorded_at::date FROM logistics_event WHERE id > %(event_since)s
                 UNION SELECT attempted_at::date FROM logistics_message_attempt
                        WHERE id > %(attempt_since)s
                 UNION SELECT state_changed_at::date FROM logistics_message
                        WHERE state IN ('done', 'dead') AND %(message_filter)s
                 UNION SELECT %(today)s::date
                 UNION SELECT %(today)s::date - 1
                """,
                event_since=max(event_mark - ID_OVERLAP, 0),
                attempt_since=max(attempt_mark - ID_OVERLAP, 0),
                message_filter=SQL("state_changed_at >= %s", message_since)
                if message_since
                else SQL("TRUE"),
                today=now.date(),
            )
        )
        params.set_param(EVENT_WATERMARK, str(max(event_top, event_mark)))
        params.set_param(ATTEMPT_WATERMARK, str(max(attempt_top, attempt_mark)))
        params.set_param(MESSAGE_WATERMARK, fields.Datetime.to_string(now))
        # The scrape reads a day from here once it ended TIME_OVERLAP before this run began:
        # an event recorded before midnight and committed during this run (or after the
        # cron's transaction read the day) is still read from the table, never from neither.
        params.set_param(COUNTED_DAY, fields.Date.to_string((now - TIME_OVERLAP).date()))
        _logger.info("counters per day: %s days counted", days)
        return days

    @api.model
    def _recount(self, days_query):
        """Replace the rows of the days ``days_query`` (an ``SQL`` selecting dates) with
        counts from the tables.

        :return: the number of days counted (int)
        """
        cr = self.env.cr
        cr.execute(
            SQL(
                "CREATE TEMPORARY TABLE logistics_counter_day_todo ON COMMIT DROP AS "
                "SELECT DISTINCT d AS day FROM (%s) AS t(d) WHERE d IS NOT NULL",
                days_query,
            )
        )
        cr.execute("ANALYZE logistics_counter_day_todo")
        # The deleted shipments' events are not in the tables any more: kept, never recounted.
        cr.execute(
            "DELETE FROM logistics_counter_day c USING logistics_counter_day_todo t "
            "WHERE c.day = t.day AND c.counter IN ('events', 'messages_done', 'attempts')"
        )
        cr.execute(
            SQL(
                """
                INSERT INTO logistics_counter_day (day, counter, backend_id, company_id, key,
                                                   count, total)
                SELECT t.day, 'events', e.backend_id, s.company_id, ty.code, count(*), 0
                  FROM logistics_event e
                  JOIN logistics_counter_day_todo t ON t.day = e.recorded_at::date
                  JOIN logistics_shipment s ON s.id = e.shipment_id
                  JOIN logistics_event_type ty ON ty.id = e.type_id
                 WHERE %(events_span)s
              GROUP BY t.day, e.backend_id, s.company_id, ty.code
                """,
                events_span=_todo_span(SQL("e.recorded_at")),
            )
        )
        cr.execute(
            SQL(
                """
                INSERT INTO logistics_counter_day (day, counter, backend_id, company_id, key,
                                                   count, total)
                SELECT t.day, 'messages_done', m.backend_id, m.company_id, m.direction,
                       count(*), 0
                  FROM logistics_message m
                  JOIN logistics_counter_day_todo t ON t.day = m.state_changed_at::date
                 WHERE m.state = 'done' AND %(messages_span)s
              GROUP BY t.day, m.backend_id, m.company_id, m.direction
                """,
                messages_span=_todo_span(SQL("m.state_changed_at")),
            )
        )
        cr.execute(
            SQL(
                """
                INSERT INTO logistics_counter_day (day, counter, backend_id, company_id, key,
                                                   count, total)
                SELECT t.day, 'attempts', a.backend_id, a.company_id, %(bucket)s, count(*),
                       sum(a.latency_ms) / 1000.0
                  FROM logistics_message_attempt a
                  JOIN logistics_counter_day_todo t ON t.day = a.attempted_at::date
                 WHERE a.latency_ms IS NOT NULL AND %(attempts_span)s
              GROUP BY 1, 2, 3, 4, 5
                """,
                bucket=bucket_label_sql(SQL("a.latency_ms / 1000.0")),
                attempts_span=_todo_span(SQL("a.attempted_at")),
            )
        )
        cr.execute("SELECT count(*) FROM logistics_counter_day_todo")
        days = cr.fetchone()[0]
        cr.execute("DROP TABLE logistics_counter_day_todo")
        self.env.invalidate_all()
        return days


class LogisticsShipment(models.Model):
    _inherit = "logistics.shipment"

    def unlink(self):
        """Keep the deleted shipments' events in ``logistics_events_total``: a Prometheus
        counter that goes down reads as a reset (``rate()`` then counts the whole total
        again). Their counts per day, backend and type go to the daily counters as
        ``events_deleted``, which no refresh recounts."""
        if self.ids:
            self.env.flush_all()
            self.env.cr.execute(
                SQL(
                    """
                    INSERT INTO logistics_counter_day (day, counter, backend_id, company_id, key,
                                                       count, total)
                    SELECT e.recorded_at::date, 'events_deleted', e.backend_id, s.company_id,
                           ty.code, count(*), 0
                      FROM logistics_event e
                      JOIN logistics_shipment s ON s.id = e.shipment_id
                      JOIN logistics_event_type ty ON ty.id = e.type_id
                     WHERE e.shipment_id IN %s
                  GROUP BY 1, 3, 4, 5
                    """,
                    tuple(self.ids),
                )
            )
        return super().unlink()
