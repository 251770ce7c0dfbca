"""Indexes that the health checks (``logistics.health``) read, on other addons' tables: each
check is one probe of an index, whatever the size of the tables. The backends check's last
success per backend is one probe of the delivered messages' index, ``_delivered_idx`` in
``logistics_metric_indexes.py`` (0.3 ms for 5 backends at 300,000 messages, where the finished
messages' index made PostgreSQL walk back through every newer message: 555 ms)."""

from odoo import models


class QueueJob(models.Model):
    _inherit = "queue.job"

    # The job runner check: per channel, the oldest job due to run is one probe (and the
    # channels are found by probing too, see _check_job_runner). Only pending jobs have an
    # entry: the index stays small whatever the size of the queue's history.
    _pending_due_idx = models.Index(
        "(channel, (COALESCE(eta, date_created))) WHERE state = 'pending'"
    )
