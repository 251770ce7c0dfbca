from psycopg2 import errors

from odoo import api, fields, models
from odoo.exceptions import ConcurrencyError
from odoo.tools import SQL


class LogisticsException(models.Model):
    """Raising exceptions, grouped by root cause, and partner-level inhibition (DESIGN §5).

    A caller that knows the root cause of what it raises passes it as ``cause`` (an HTTP status
    and error class, a mapping key…): an open exception of the same type, backend and cause
    (its ``grouping_key``) counts the new occurrence, links its shipment and message, and
    notifies nobody again. While a partner-level exception (its type's *Partner-Level*: the
    backend is down, or refuses our credentials) is open for a backend, the other exceptions of
    that backend are held under it, off the board, until it clears.
    """

    _inherit = "logistics.exception"

    # One open exception per grouping key, even when two transactions meet the cause together.
    _open_grouping_key_uniq = models.UniqueIndex(
        "(grouping_key) WHERE grouping_key IS NOT NULL AND is_closed IS NOT TRUE"
    )

    @api.model
    def _raise(self, type_code, vals_list):
        """Raise exceptions of one catalogue type, each in the company of its shipment, else of
        its backend, unless the values say otherwise.

        :param str type_code: the exception type's code (``partner_unavailable``…)
        :param list vals_list: one dict of ``logistics.exception`` values per exception; an
            optional ``cause`` (str) is the root cause: values with a cause join the open
            exception of the same type, backend and cause when there is one; an optional
            ``occurrence`` (str) describes this sighting (default: the name)
        :return: the exceptions raised or joined, each once (values of one cause join one
            exception: one search, one create of their occurrences, one write of its counts)
        :raises psycopg2.errors.SerializationFailure: a concurrent transaction raised the same
            group first (Odoo's and queue_job's retries then find it)
        """
        exception_type = self.env["logistics.exception.type"].search(
            [("code", "=", type_code)], limit=1
        )
        held_by = {}
        exceptions = self.browse()
        groups = {}  # grouping key -> (the first values, [occurrences]): joined in one go
        for vals in vals_list:
            vals = dict(vals, type_id=exception_type.id)
            vals["company_id"] = (
                vals.get("company_id") or self._company_of(vals).id or self.env.company.id
            )
            cause = vals.pop("cause", None)
            occurrence = {
                "shipment_id": vals.get("shipment_id") or False,
                "message_id": vals.get("message_id") or False,
                "description": (vals.pop("occurrence", None) or vals["name"])[:250],
            }
            if exception_type.partner_level:
                # A fault of the whole backend: the shipments it hit are its occurrences.
                vals.pop("shipment_id", None)
            backend_id = vals.get("backend_id")
            if backend_id and not exception_type.partner_level and self._caused_by_calls(vals):
                if backend_id not in held_by:
                    held_by[backend_id] = self._open_partner_level(backend_id)
                vals["held_by_id"] = held_by[backend_id].id
            if cause:
                vals["grouping_key"] = "|".join(
                    (type_code, str(vals["company_id"]), str(backend_id or ""), cause)
                )
                groups.setdefault(vals["grouping_key"], (vals, []))[1].append(occurrence)
            else:
                exceptions |= self._create_occurring(vals, occurrence)
        for vals, occurrences in groups.values():
            exceptions |= self._join_or_create(vals, occurrences)
        return exceptions

    @api.model
    def _caused_by_calls(self, vals):
        """Whether the exception ``vals`` describe comes from our calls to its backend (its
        message is an outbound message of that backend): only those can be caused by the
        backend's partner-level fault and held under it. What the partner sends us (a webhook
        telling of a shipment after a cancel, say) is news, never held."""
        message = self.env["logistics.message"].sudo().browse(vals.get("message_id"))
        return bool(
            message
            and message.direction == "outbound"
            and message.backend_id.id == vals["backend_id"]
        )

    @api.model
    def _open_partner_level(self, backend_id):
        return self.sudo().search(
            [
                ("backend_id", "=", backend_id),
                ("type_id.partner_level", "=", True),
                ("is_closed", "=", False),
            ],
            limit=1,
        )

    @api.model
    def _join_or_create(self, vals, occurrences):
        """The open exception of ``vals``'s grouping key, counting ``occurrences`` (a list):
        joined when it is open, else created with the first and counting the others."""
        group = self.sudo().search(
            [("grouping_key", "=", vals["grouping_key"]), ("is_closed", "=", False)], limit=1
        )
        if not group:
            try:
                with self.env.cr.savepoint():
                    group = self._create_occurring(vals, occurrences[0]).sudo()
            except errors.UniqueViolation:
                self._serialization_failure(vals)
                raise
            occurrences = occurrences[1:]
        if occurrences:
            group._add_occurrences(occurrences)
        return self.browse(group.id)

    def _serialization_failure(self, vals):
        """The group was raised by a transaction committed after this one's snapshot: Odoo's
        repeatable-read snapshot can't see it. PostgreSQL's INSERT … ON CONFLICT DO NOTHING
        raises a genuine serialization failure then (a conflict with a row the snapshot can't
        see), which Odoo's request retry and queue_job both run again."""
        self.env.cr.execute(
            SQL(
                "INSERT INTO logistics_exception (name, type_id, company_id, grouping_key)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (grouping_key)"
                " WHERE grouping_key IS NOT NULL AND is_closed IS NOT TRUE DO NOTHING"
                " RETURNING id",
                vals["name"],
                vals["type_id"],
                vals["company_id"],
                vals["grouping_key"],
            )
        )
        if self.env.cr.fetchone():
            raise ConcurrencyError(f"exception group {vals['grouping_key']} changed meanwhile")

    @api.model
    def _create_occurring(self, vals, occurrence):
        """Create one exception with its first occurrence, and tell its team."""
        now = fields.Datetime.now()
        # As superuser: the counters are the flow's (FLOW_FIELDS), and any user's events may
        # raise an exception (ingest over RPC runs as the caller).
        exception = self.sudo().create(
            dict(
                vals,
                first_seen_at=now,
                last_seen_at=now,
                occurrence_count=1,
                affected_shipment_count=1 if occurrence["shipment_id"] else 0,
            )
        )
        self.env["logistics.exception.occurrence"].sudo().create(
            dict(occurrence, exception_id=exception.id, occurred_at=now)
        )
        # A batch that raises many at once (the nightly freight audit) tells the team once
        # itself, rather than one email per exception.
        if not exception.held_by_id and not self.env.context.get("logistics_notify_batch"):
            exception._notify_team()
        return self.browse(exception.id)

    def _add_occurrences(self, occurrences):
        """Count more sightings of this open exception's cause (``occurrences``: a list of
        ``{shipment_id, message_id, description}``): link their shipments and messages, update
        the counts and last seen, in one create and one write. Notifies nobody."""
        self.ensure_one()
        now = fields.Datetime.now()
        Occurrence = self.env["logistics.exception.occurrence"].sudo()
        new_shipments = {o["shipment_id"] for o in occurrences if o["shipment_id"]}
        if new_shipments:
            new_shipments -= set(
                Occurrence.search_fetch(
                    [("exception_id", "=", self.id), ("shipment_id", "in", list(new_shipments))],
                    ["shipment_id"],
                ).shipment_id.ids
            )
        Occurrence.create(
            [dict(occurrence, exception_id=self.id, occurred_at=now) for occurrence in occurrences]
        )
        self.sudo().write(
            {
                "occurrence_count": self.occurrence_count + len(occurrences),
                "affected_shipment_count": self.affected_shipment_count + len(new_shipments),
                "last_seen_at": now,
            }
        )

    def _notify_team(self):
        """Tell the type's team (else the Logistics Managers, for a partner-level exception)
        of this new exception: one message, emailed to them, per exception group."""
        for exception in self:
            users = exception.type_id.team_id.member_ids
            if not users and exception.type_id.partner_level:
                users = self.env.ref(
                    "logistics_integration_base.group_logistics_manager"
                ).all_user_ids
            users = users.filtered(lambda u, x=exception: x.company_id in u.company_ids)
            if not users:
                continue
            exception.message_subscribe(partner_ids=users.partner_id.ids)
            exception.message_post(
                body=self.env._(
                    "New %(type)s exception: %(name)s",
                    type=exception.type_id.name,
                    name=exception.name,
                ),
                partner_ids=users.partner_id.ids,
                subtype_xmlid="mail.mt_comment",
            )

    # --- partner-level exceptions: recovery and release ---------------------------------------
    @api.model
    def _partner_recovered(self, backend):
        """``backend``'s call succeeded: its open partner-level exceptions close themselves
        (noted in their chatter), and the exceptions held under them are released: closed when
        their cause is gone (``_cause_cleared``), shown on the board again when not.

        :return: the partner-level exceptions closed
        """
        open_ones = self.sudo().search(
            [
                ("backend_id", "=", backend.id),
                ("type_id.partner_level", "=", True),
                ("is_closed", "=", False),
            ]
        )
        if not open_ones:
            return open_ones
        open_ones._close_automatically(
            self.env._("%(backend)s answered again: its next call succeeded.", backend=backend.name)
        )
        open_ones._release_held()
        return open_ones

    def _release_held(self):
        """These partner-level exceptions closed (the backend recovered, or a person resolved
        them): the exceptions they held are released, closed when their cause is gone
        (``_cause_cleared``), else back on the board, their team told as for a new card."""
        held = self.sudo().search([("held_by_id", "in", self.ids), ("is_closed", "=", False)])
        if not held:
            return held
        cleared = held._cause_cleared()
        cleared._close_automatically(
            self.env._("Released when its partner-level exception closed: its cause is gone.")
        )
        shown = held - cleared
        shown.write({"held_by_id": False})
        shown._notify_team()
        return held

    def _cause_cleared(self):
        """Of these exceptions, those whose cause is gone: their technical message was
        delivered or applied since (itself, or a replay of it). Connectors may add theirs.

        :return: a subset of self
        """
        return self.filtered(
            lambda x: (
                x.message_id.state == "done" or "done" in x.message_id.replay_ids.mapped("state")
            )
        )
