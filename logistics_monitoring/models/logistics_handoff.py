import logging

from odoo import api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

# Where the rollup stopped: the highest event id it has read (ir.config_parameter).
WATERMARK_PARAM = "logistics_monitoring.handoff_event_id"
# Each run reads again this many event ids below its watermark: an event whose transaction
# took an id before the last run but committed after it is not missed. Reading a shipment
# again is harmless (its hand-offs are rebuilt, not added to).
WATERMARK_OVERLAP = 1000
# Above this many shipments, a rebuild gets more sort memory (a first run over a history).
BIG_REBUILD = 10000
# Serialises runs (cron and manual) of the rollup: a transaction-level advisory lock key.
ROLLUP_LOCK = 7_114_023


class LogisticsHandoff(models.Model):
    """The hand-off rollup: one row per shipment and pair of consecutive main milestones it
    reached, with the latency between them and the shipment's dimensions (DESIGN §5, "a
    hand-off report model").

    The rows follow the timeline's definition of a hand-off (``logistics.shipment
    ._timeline_handoffs``): the first event of each rank of the main progression reached
    (arrived-late ones included, a non-owner's excluded), in rank order. They are rebuilt, set
    based, for the shipments of the events recorded since the last run (``_cron_refresh``): the
    dashboard's percentiles then read a table indexed by time instead of pairing a million
    events on every load. A shipment's carrier, warehouse or channel changed later is copied
    again at its next event.
    """

    _name = "logistics.handoff"
    _inherit = ["logistics.rollup.dimensions"]
    _description = "Logistics Hand-off"
    _order = "to_at desc, id desc"
    _rec_name = "handoff"
    # Rebuilt by SQL only: no create / write users to keep.
    _log_access = False

    shipment_id = fields.Many2one(
        "logistics.shipment", required=True, readonly=True, index=True, ondelete="cascade"
    )
    from_type_id = fields.Many2one(
        "logistics.event.type", string="From Milestone", required=True, readonly=True
    )
    to_type_id = fields.Many2one(
        "logistics.event.type", string="To Milestone", required=True, readonly=True
    )
    handoff = fields.Char(
        string="Hand-off",
        required=True,
        readonly=True,
        help="The pair of event type codes, from>to (the label of the latency metrics).",
    )
    to_rank = fields.Integer(readonly=True, aggregator="max")
    step = fields.Integer(
        readonly=True,
        aggregator="max",
        help="How many main milestones the shipment had reached with the later one (2 for its "
        "first hand-off).",
    )
    from_at = fields.Datetime(string="From", required=True, readonly=True)
    to_at = fields.Datetime(string="To", required=True, readonly=True)
    seconds = fields.Float(
        string="Latency (s)",
        readonly=True,
        aggregator="avg",
        help="Seconds from the earlier milestone to the later one, by the sources' clocks "
        "(negative when a partner's clock or a late report says the later step came first).",
    )
    backend_id = fields.Many2one(
        "logistics.backend", string="Reported By", readonly=True, help="Source of the later event."
    )

    _shipment_to_uniq = models.UniqueIndex("(shipment_id, to_type_id)")
    # The dashboard's windows, by the later milestone's time, read from the indexes alone
    # (index-only scans): the latency percentiles, and the completeness of the deliveries.
    _to_at_idx = models.Index(
        "(to_at) INCLUDE (from_type_id, to_type_id, backend_id, seconds, company_id, "
        "wms_backend_id, carrier_backend_id, warehouse_id, channel_id)"
    )
    _to_rank_at_idx = models.Index(
        "(to_rank, to_at) INCLUDE (step, company_id, wms_backend_id, carrier_backend_id, "
        "warehouse_id, channel_id)"
    )

    @api.model
    def _cron_refresh(self):
        """Rebuild the hand-offs of the shipments that got events since the last run (and the
        latency histogram of their days), count again the hours of those events
        (``logistics.event.hour``) and the SLA outcomes of yesterday, today and those
        shipments' due days (``logistics.sla.day``).

        :return: the number of shipments whose hand-offs were rebuilt (int)
        """
        cr = self.env.cr
        cr.execute(SQL("SELECT pg_try_advisory_xact_lock(%s)", ROLLUP_LOCK))
        if not cr.fetchone()[0]:
            _logger.info("hand-off rollup: another run is under way")
            return 0
        # Messages and attempts move without events: counted on every run.
        self.env["logistics.counter.day"]._refresh()
        params = self.env["ir.config_parameter"].sudo()
        watermark = int(params.get_param(WATERMARK_PARAM, "0") or 0)
        cr.execute("SELECT COALESCE(max(id), 0) FROM logistics_event")
        top = cr.fetchone()[0]
        if top <= watermark - WATERMARK_OVERLAP:
            return 0
        since_id = max(watermark - WATERMARK_OVERLAP, 0)
        count = self._rebuild(
            SQL(
                "SELECT DISTINCT shipment_id FROM logistics_event WHERE id > %s AND id <= %s",
                since_id,
                top,
            )
        )
        self.env["logistics.sla.day"]._recount(
            SQL(
                """
                SELECT r.due_at::date AS day
                  FROM logistics_shipment_sla r
                 WHERE r.shipment_id IN (
                       SELECT shipment_id FROM logistics_event WHERE id > %s AND id <= %s)
                 UNION SELECT (now() AT TIME ZONE 'UTC')::date
                 UNION SELECT (now() AT TIME ZONE 'UTC')::date - 1
                """,
                since_id,
                top,
            )
        )
        self.env["logistics.event.hour"]._recount(
            SQL(
                "SELECT recorded_at FROM logistics_event WHERE id > %s AND id <= %s",
                since_id,
                top,
            )
        )
        params.set_param(WATERMARK_PARAM, str(max(top, watermark)))
        _logger.info("hand-off rollup: %s shipments rebuilt up to event %s", count, top)
        return count

    @api.model
    def _rebuild(self, shipments_query):
        """Delete and insert again the hand-offs of the shipments ``shipments_query`` (an
        ``SQL`` selecting shipment ids) returns, in two set-based statements.

        :return: the number of shipments rebuilt (int)
        """
        cr = self.env.cr
        cr.execute(
            SQL(
                "CREATE TEMPORARY TABLE logistics_handoff_todo ON COMMIT DROP AS %s",
                shipments_query,
            )
        )
        # Statistics for the planner: a few shipments probe the indexes, all of them hash.
        cr.execute("ANALYZE logistics_handoff_todo")
        cr.execute("SELECT count(*) FROM logistics_handoff_todo")
        count = cr.fetchone()[0]
        if count > BIG_REBUILD:
            # A first run over a history: sort its million events in memory, not on disk.
            cr.execute("SET LOCAL work_mem = '256MB'")
        # The days of the hand-offs replaced, and below of their replacements: the latency
        # histogram recounts them.
        cr.execute(
            """
            CREATE TEMPORARY TABLE logistics_handoff_days ON COMMIT DROP AS
            SELECT DISTINCT h.to_at::date AS day
              FROM logistics_handoff h
              JOIN logistics_handoff_todo t ON t.shipment_id = h.shipment_id
            """
        )
        cr.execute(
            """
            DELETE FROM logistics_handoff h
             USING logistics_handoff_todo t
             WHERE h.shipment_id = t.shipment_id
            """
        )
        cr.execute(
            """
            WITH firsts AS (
                SELECT DISTINCT ON (e.shipment_id, t.rank)
                       e.shipment_id, t.rank, e.type_id, t.code, e.occurred_at, e.backend_id
                  FROM logistics_handoff_todo todo
                  JOIN logistics_event e ON e.shipment_id = todo.shipment_id
                  JOIN logistics_event_type t ON t.id = e.type_id
                 WHERE t.category = 'execution' AND t.rank > 0 AND e.state != 'ignored'
              ORDER BY e.shipment_id, t.rank, e.occurred_at, e.id
            ), chain AS (
                SELECT f.*,
                       lag(f.type_id) OVER w AS from_type_id,
                       lag(f.code) OVER w AS from_code,
                       lag(f.occurred_at) OVER w AS from_at,
                       row_number() OVER w AS step
                  FROM firsts f
                WINDOW w AS (PARTITION BY f.shipment_id ORDER BY f.rank)
            )
            INSERT INTO logistics_handoff (
                shipment_id, from_type_id, to_type_id, handoff, to_rank, step, from_at, to_at,
                seconds, backend_id, wms_backend_id, carrier_backend_id, warehouse_id,
                channel_id, company_id)
            SELECT c.shipment_id, c.from_type_id, c.type_id, c.from_code || '>' || c.code,
                   c.rank, c.step, c.from_at, c.occurred_at,
                   EXTRACT(EPOCH FROM (c.occurred_at - c.from_at)), c.backend_id,
                   s.wms_backend_id, s.carrier_backend_id, s.warehouse_id, s.channel_id,
                   s.company_id
              FROM chain c
              JOIN logistics_shipment s ON s.id = c.shipment_id
             WHERE c.from_type_id IS NOT NULL
            """
        )
        cr.execute(
            """
            INSERT INTO logistics_handoff_days
            SELECT DISTINCT h.to_at::date
              FROM logistics_handoff h
              JOIN logistics_handoff_todo t ON t.shipment_id = h.shipment_id
            EXCEPT SELECT day FROM logistics_handoff_days
            """
        )
        self.env["logistics.handoff.bucket"]._recount("logistics_handoff_days")
        cr.execute("DROP TABLE logistics_handoff_todo, logistics_handoff_days")
        self.env.invalidate_all()
        return count

    @api.model
    def _as_of(self):
        """The last event id the rollup has read (int; 0 before its first run)."""
        params = self.env["ir.config_parameter"].sudo()
        return int(params.get_param(WATERMARK_PARAM, "0") or 0)
