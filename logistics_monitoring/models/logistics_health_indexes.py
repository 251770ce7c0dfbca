"""Indexes that the health checks (``logistics.health``) read, on other addons' tables: each
check is one probe of an index, whatever the size of the tables."""

from odoo import models


class LogisticsMessage(models.Model):
    _inherit = "logistics.message"

    # The backends check: a backend's last success (its newest done outbound message) is the
    # last entry of its range. Measured on 300,000 messages of 5 backends (PostgreSQL 15):
    # 0.3 ms for the 5, where the finished messages' index made PostgreSQL walk back through
    # every message newer than each last success: 555 ms, most of it for a backend that only
    # receives and one that stopped succeeding weeks ago.
    _delivered_idx = models.Index(
        "(backend_id, state_changed_at) WHERE state = 'done' AND direction = 'outbound'"
    )


class QueueJob(models.Model):
    _inherit = "queue.job"

    # The job runner check: per channel, the oldest job due to run is one probe (and the
    # channels are found by probing too, see _check_job_runner). Only pending jobs have an
    # entry: the index stays small whatever the size of the queue's history.
    _pending_due_idx = models.Index(
        "(channel, (COALESCE(eta, date_created))) WHERE state = 'pending'"
    )
