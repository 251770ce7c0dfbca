"""Indexes that the metric registry's windowed queries (``logistics.metric``) read, on the
base's tables. Declared here, with the queries that need them, so that the base's hot insert
paths pay for them only when monitoring is installed."""

from odoo import models


class LogisticsEvent(models.Model):
    _inherit = "logistics.event"

    # events_hourly counts the events recorded in a window. recorded_at grows with the
    # insertion order, so a BRIN index (a few pages for a million rows, next to nothing per
    # insert) finds a window's blocks, where a B-tree would cost every ingested event.
    _recorded_at_brin = models.Index("USING brin (recorded_at)")
    # backend_event_silence_seconds (the no-data alert rules): a backend's newest event is one
    # probe of this index instead of a scan of the backend's events (about 200k per backend
    # at 1M events).
    _backend_recorded_idx = models.Index("(backend_id, recorded_at)")


class LogisticsMessage(models.Model):
    _inherit = "logistics.message"

    # backend_success_ratio: the messages that ended (done or dead) in a window, and
    # dead_letters, read from the indexes alone.
    _finished_idx = models.Index(
        "(state_changed_at) INCLUDE (state, backend_id, company_id) WHERE state IN ('done', 'dead')"
    )
    _dead_idx = models.Index("(backend_id) INCLUDE (company_id) WHERE state = 'dead'")
    # /logistics/metrics: the messages not done (a few percent of the table) by backend,
    # direction, state and error class, from the index alone (the done ones come from the
    # daily counters); each backend's last delivery is the base's ``_delivered_idx``. All of
    # these columns are indexed by the base already: no update that was HOT stops being so.
    _not_done_idx = models.Index(
        "(backend_id, direction, state, error_class) INCLUDE (company_id) WHERE state <> 'done'"
    )


class LogisticsMessageAttempt(models.Model):
    _inherit = "logistics.message.attempt"

    # The daily counters' refresh reads today's attempts: attempted_at grows with the
    # insertion order, so a BRIN index finds a day's blocks for next to nothing per insert.
    _attempted_at_brin = models.Index("USING brin (attempted_at)")


class LogisticsShipmentSla(models.Model):
    _inherit = "logistics.shipment.sla"

    # The SLA tiles: the open rows by policy and state (a small share of the table).
    _open_idx = models.Index(
        "(policy_id, state) INCLUDE (company_id, shipment_id) "
        "WHERE state IN ('on_time', 'at_risk', 'breached')"
    )
    # The breach rates: the rows due in a window.
    _due_at_idx = models.Index("(due_at) INCLUDE (shipment_id, met_at, breached_at, company_id)")


class LogisticsShipment(models.Model):
    _inherit = "logistics.shipment"

    # The breach rates join the SLA rows due in a window to their shipments' carrier,
    # warehouse and channel: read from this index alone. None of these columns is a status
    # column, so a milestone's update of the shipment stays a HOT update.
    _dimensions_idx = models.Index(
        "(id) INCLUDE (carrier_backend_id, warehouse_id, channel_id, wms_backend_id, company_id)"
    )
    # orders_awaiting_release: the few outgoing shipments without a milestone, instead of a
    # scan of the table (30 ms of the benchmark's dashboard load). has_milestone flips once
    # per shipment; the status columns themselves stay unindexed (HOT updates).
    _awaiting_release_idx = models.Index(
        "(warehouse_id) INCLUDE (company_id) "
        "WHERE has_milestone IS NOT TRUE AND direction = 'outgoing'"
    )
