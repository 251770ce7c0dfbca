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


class LogisticsMessage(models.Model):
    _inherit = "logistics.message"

    # backend_success_ratio: the messages that ended (done or dead) in a window.
    _finished_idx = models.Index("(state_changed_at) WHERE state IN ('done', 'dead')")


class LogisticsShipmentSla(models.Model):
    _inherit = "logistics.shipment.sla"

    # The breach rates: the rows due in a window.
    _due_at_idx = models.Index("(due_at)")
