"""Flow policies are keyed by the operation they govern since 19.0.1.1.0 (their channel and
priority are those of the operation's jobs): the two flows whose codes were names of their own
take their operation's code. The data file is ``noupdate``, so an update would not rename them."""

RENAMED = {"label_purchase": "label_buy", "milestone_publication": "publish_milestone"}


def migrate(cr, version):
    for old, new in RENAMED.items():
        cr.execute(
            "UPDATE logistics_flow SET code = %s WHERE code = %s"
            " AND NOT EXISTS (SELECT 1 FROM logistics_flow WHERE code = %s)",
            [new, old, new],
        )
