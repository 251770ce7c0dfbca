"""Events kept as "out of order" become "arrived late": the status rule of DESIGN §2 (issue 10,
item 13) names them so, and the old selection value goes away with this version."""


def migrate(cr, version):
    cr.execute(
        "UPDATE logistics_event SET state = 'arrived_late', ignore_reason = NULL"
        " WHERE ignore_reason = 'out_of_order'"
    )
