"""``processing_failed`` exceptions close when a replay of their message is applied, as before
19.0.1.2.0, now by their type's *Resolved By Replay* flag. The catalogue file is ``noupdate``:
an update does not set the new flag on the existing type."""


def migrate(cr, version):
    cr.execute(
        "UPDATE logistics_exception_type SET resolved_by_replay = TRUE"
        " WHERE code = 'processing_failed'"
    )
