from odoo import models


class LogisticsEvent(models.Model):
    """The index the no-data alert rules read (metric backend_event_silence_seconds): the
    newest event of a backend is one probe of it instead of a scan of the backend's events
    (at 1M events, about 200k per backend)."""

    _inherit = "logistics.event"

    _backend_recorded_idx = models.Index("(backend_id, recorded_at)")
