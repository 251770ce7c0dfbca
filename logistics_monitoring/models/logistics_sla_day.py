from odoo import api, fields, models
from odoo.tools import SQL


class LogisticsSlaDay(models.Model):
    """SLA outcomes per day: of the SLA rows due on a day (and already due when counted),
    how many were late, by policy and shipment dimensions. The rollup behind the dashboard's
    breach rates (``sla_breach_ratio_by_*``): joining a month of the benchmark's SLA rows
    (100,000) to their shipments cost 150 to 350 ms per load; this table holds a few rows per
    day.

    A row due in the past has a fixed outcome (late if its milestone came after the due time
    or has not come, or the evaluator recorded a breach), so the hand-off rollup's cron
    (``logistics.handoff._cron_refresh``) recounts only yesterday, today, and the days of the
    SLA rows of the shipments that got events since its last run (a silence policy moves its
    due time when the carrier speaks).
    """

    _name = "logistics.sla.day"
    _inherit = ["logistics.rollup.dimensions"]
    _description = "Logistics SLA Outcomes per Day"
    _order = "day desc"
    _log_access = False

    day = fields.Date(required=True, readonly=True, help="Day of the due time (UTC).")
    policy_id = fields.Many2one("logistics.sla.policy", required=True, readonly=True)
    decided = fields.Integer(readonly=True, help="SLA rows due this day, already due.")
    late = fields.Integer(readonly=True, help="Of those, the ones late.")

    _day_idx = models.Index("(day, company_id)")

    @api.model
    def _recount(self, days_query):
        """Count again the days ``days_query`` (an ``SQL`` selecting dates as ``day``) selects.

        :return: the number of days counted (int)
        """
        cr = self.env.cr
        cr.execute(
            SQL(
                """
                CREATE TEMPORARY TABLE logistics_sla_day_todo ON COMMIT DROP AS
                SELECT DISTINCT day FROM (%s) d WHERE day IS NOT NULL
                """,
                days_query,
            )
        )
        cr.execute("ANALYZE logistics_sla_day_todo")
        cr.execute(
            """
            DELETE FROM logistics_sla_day s
             USING logistics_sla_day_todo t
             WHERE s.day = t.day
            """
        )
        now = fields.Datetime.now()
        cr.execute(
            SQL(
                """
                INSERT INTO logistics_sla_day (day, policy_id, decided, late, wms_backend_id,
                    carrier_backend_id, warehouse_id, channel_id, company_id)
                SELECT r.due_at::date, r.policy_id, count(*),
                       count(*) FILTER (
                           WHERE r.breached_at IS NOT NULL OR COALESCE(r.met_at, %s) > r.due_at
                       ),
                       s.wms_backend_id, s.carrier_backend_id, s.warehouse_id, s.channel_id,
                       r.company_id
                  FROM logistics_shipment_sla r
                  JOIN logistics_sla_day_todo t ON t.day = r.due_at::date
                  JOIN logistics_shipment s ON s.id = r.shipment_id
                 WHERE r.due_at >= (SELECT min(day) FROM logistics_sla_day_todo)
                   AND r.due_at < LEAST((SELECT max(day) FROM logistics_sla_day_todo) + 1, %s)
              GROUP BY 1, 2, 5, 6, 7, 8, 9
                """,
                now,
                now,
            )
        )
        cr.execute("SELECT count(*) FROM logistics_sla_day_todo")
        days = cr.fetchone()[0]
        cr.execute("DROP TABLE logistics_sla_day_todo")
        return days
