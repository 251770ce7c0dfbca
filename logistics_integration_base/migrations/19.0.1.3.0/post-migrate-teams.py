"""19.0.1.3.0: an exception type's team is a record with members (``logistics.team``), no
longer a selection; partner_unavailable is partner-level. The catalogue file is ``noupdate``:
an update does not rewrite the existing types, so their old ``team`` codes are mapped here."""


def migrate(cr, version):
    cr.execute(
        """
        UPDATE logistics_exception_type t SET team_id = d.res_id
          FROM ir_model_data d
         WHERE d.module = 'logistics_integration_base' AND d.model = 'logistics.team'
           AND d.name = 'team_' || t.team AND t.team_id IS NULL
        """
    )
    cr.execute(
        "UPDATE logistics_exception_type SET partner_level = TRUE"
        " WHERE code = 'partner_unavailable'"
    )
    cr.execute(
        """
        UPDATE logistics_exception x SET team_id = t.team_id
          FROM logistics_exception_type t WHERE x.type_id = t.id
        """
    )
    cr.execute(
        "UPDATE logistics_exception SET first_seen_at = create_date, last_seen_at = create_date"
        " WHERE first_seen_at IS NULL"
    )
