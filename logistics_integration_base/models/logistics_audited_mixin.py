from odoo import api, models


class LogisticsAuditedMixin(models.AbstractModel):
    """Writes an audit log entry for every create, change and deletion of a configuration record.

    Fields listed in ``_audit_secret_fields`` are recorded as "set" / "cleared", never by value.
    Fields listed in ``_audit_ignored_fields`` are operational state the suite's code keeps up to
    date (a circuit breaker's failure counter and state), not configuration: their changes are
    not audited (DESIGN §6: the audit keeps configuration, secrets, mappings and rules, and who
    replayed, edited, discarded or resolved what).
    """

    _name = "logistics.audited.mixin"
    _description = "Logistics Audited Configuration"
    _audit_secret_fields = ()
    _audit_ignored_fields = ()

    def _audit_format(self, field_name, value):
        if field_name in self._audit_secret_fields:
            return "(set)" if value else "(cleared)"
        field = self._fields[field_name]
        if field.type in ("many2one", "many2many", "one2many"):
            return ", ".join(value.mapped("display_name")) or "-"
        if field.type == "selection" and value:
            return dict(field._description_selection(self.env)).get(value, value)
        return "-" if value in (False, None, "") else str(value)

    def _audit_snapshot(self, field_names):
        return {
            record.id: {name: record[name] for name in field_names if name in record._fields}
            for record in self
        }

    def _audit_enabled(self):
        # Module data loaded at install / update is not a person's change.
        return not self.env.context.get("install_mode") and not self.env.context.get("module")

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        if self._audit_enabled():
            self.env["logistics.audit.log"]._record("create", records)
        return records

    def write(self, vals):
        if not self._audit_enabled():
            return super().write(vals)
        tracked = [
            name
            for name in vals
            if name in self._fields
            and self._fields[name].store
            and name not in self._audit_ignored_fields
        ]
        if not tracked:
            return super().write(vals)
        before = self._audit_snapshot(tracked)
        result = super().write(vals)
        for record in self:
            changes = [
                f"{record._fields[name].string}: "
                f"{record._audit_format(name, before[record.id][name])} → "
                f"{record._audit_format(name, record[name])}"
                for name in tracked
                if before[record.id][name] != record[name]
            ]
            if changes:
                self.env["logistics.audit.log"]._record("write", record, changes="\n".join(changes))
        return result

    def unlink(self):
        if self._audit_enabled():
            self.env["logistics.audit.log"]._record("unlink", self)
        return super().unlink()
