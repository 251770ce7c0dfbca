from odoo import api, fields, models
from odoo.tools import SQL


class LogisticsEventHour(models.Model):
    """Events recorded per hour, by source backend and shipment dimensions: the rollup behind
    the dashboard's trend (``events_hourly``). Counting a month of a million-event table on
    every load cost 0.9 s in the benchmark data set; this table holds a few rows per hour.

    Kept by the hand-off rollup's cron (``logistics.handoff._cron_refresh``): the hours of the
    events recorded since its watermark are counted again from the events (the BRIN index on
    ``recorded_at`` finds an hour's blocks), so a run is idempotent and an event committed
    late into an hour already counted is caught by the next run's overlap.
    """

    _name = "logistics.event.hour"
    _inherit = ["logistics.rollup.dimensions"]
    _description = "Logistics Events per Hour"
    _order = "hour desc"
    _log_access = False

    hour = fields.Datetime(required=True, readonly=True, help="Start of the hour (UTC).")
    count = fields.Integer(string="Events", readonly=True)
    backend_id = fields.Many2one("logistics.backend", string="Source", readonly=True)

    # The trend sums a month's rows (64,000 in the benchmark data set) from the index alone.
    _hour_covering_idx = models.Index(
        "(hour) INCLUDE (count, backend_id, wms_backend_id, carrier_backend_id, warehouse_id, "
        "channel_id, company_id)"
    )

    @api.model
    def _recount(self, events_query):
        """Count again the hours of the events ``events_query`` (an ``SQL`` selecting event
        ids' ``recorded_at``) selects: delete those hours' rows, insert them again.

        :return: the number of hours counted (int)
        """
        cr = self.env.cr
        cr.execute(
            SQL(
                """
                CREATE TEMPORARY TABLE logistics_event_hour_todo ON COMMIT DROP AS
                SELECT DISTINCT date_trunc('hour', recorded_at) AS hour FROM (%s) e
                """,
                events_query,
            )
        )
        cr.execute("ANALYZE logistics_event_hour_todo")
        cr.execute(
            """
            DELETE FROM logistics_event_hour h
             USING logistics_event_hour_todo t
             WHERE h.hour = t.hour
            """
        )
        cr.execute(
            """
            INSERT INTO logistics_event_hour (hour, count, backend_id, wms_backend_id,
                carrier_backend_id, warehouse_id, channel_id, company_id)
            SELECT t.hour, count(*), e.backend_id, s.wms_backend_id, s.carrier_backend_id,
                   s.warehouse_id, s.channel_id, s.company_id
              FROM logistics_event e
              JOIN logistics_event_hour_todo t ON t.hour = date_trunc('hour', e.recorded_at)
              JOIN logistics_shipment s ON s.id = e.shipment_id
             -- The span of the hours bounds the BRIN scan: the last minutes of a cron run,
             -- all the table for a first count.
             WHERE e.recorded_at >= (SELECT min(hour) FROM logistics_event_hour_todo)
               AND e.recorded_at < (SELECT max(hour) FROM logistics_event_hour_todo)
                                   + interval '1 hour'
          GROUP BY t.hour, e.backend_id, s.wms_backend_id, s.carrier_backend_id,
                   s.warehouse_id, s.channel_id, s.company_id
            """
        )
        cr.execute("SELECT count(*) FROM logistics_event_hour_todo")
        hours = cr.fetchone()[0]
        cr.execute("DROP TABLE logistics_event_hour_todo")
        self.env.invalidate_all()
        return hours
