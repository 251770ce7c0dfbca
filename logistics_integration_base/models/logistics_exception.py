from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from .logistics_access import check_company_member, check_manager
from .logistics_exception_type import SEVERITIES

# Set by Odoo only: whether it closed the exception itself, and the reference whose arrival
# processes the exception's message again (a reference written by hand would send that message
# to whichever shipment has it).
FLOW_FIELDS = {
    "auto_resolved",
    "unmatched_reference",
    "grouping_key",
    "occurrence_count",
    "affected_shipment_count",
    "first_seen_at",
    "last_seen_at",
    "held_by_id",
    "resolved_by_id",
    "resolved_at",
}


class LogisticsException(models.Model):
    """A business exception that a person works on, from detection to resolution."""

    _name = "logistics.exception"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _description = "Logistics Exception"
    _order = "priority_rank desc, id desc"
    _check_company_auto = True

    name = fields.Char(required=True, tracking=True)
    type_id = fields.Many2one("logistics.exception.type", required=True, index=True, tracking=True)
    type_code = fields.Char(related="type_id.code", store=True, index=True)
    severity = fields.Selection(
        SEVERITIES,
        compute="_compute_from_type",
        store=True,
        readonly=False,
        tracking=True,
        index=True,
    )
    priority_rank = fields.Integer(compute="_compute_priority_rank", store=True)
    team_id = fields.Many2one(related="type_id.team_id", store=True, index=True)
    stage_id = fields.Many2one(
        "logistics.exception.stage",
        default=lambda self: self.env["logistics.exception.stage"].search([], limit=1),
        group_expand="_read_group_stage_ids",
        tracking=True,
        index=True,
    )
    is_closed = fields.Boolean(related="stage_id.is_closed", store=True, index=True)
    user_id = fields.Many2one(
        "res.users", string="Assignee", tracking=True, index=True, check_company=True
    )
    deadline = fields.Datetime(compute="_compute_from_type", store=True, readonly=False)
    shipment_id = fields.Many2one(
        "logistics.shipment", index=True, ondelete="cascade", check_company=True
    )
    backend_id = fields.Many2one(
        "logistics.backend", index=True, ondelete="set null", check_company=True
    )
    message_id = fields.Many2one(
        "logistics.message", string="Technical Message", index=True, check_company=True
    )
    source_event_id = fields.Char(
        string="Partner Event ID", index=True, help="The partner's id of the event concerned."
    )
    description = fields.Text(help="What happened, precisely, with the data concerned.")
    unmatched_reference = fields.Char(
        index="btree_not_null",
        readonly=True,
        copy=False,
        help="The shipment reference or tracking number of a rejected event that no shipment "
        "had. When a shipment gets it (a tracking number arrives after the carrier's first "
        "tracking update, say), the event's message is processed again and this exception "
        "closes.",
    )
    suggested_actions = fields.Text(related="type_id.suggested_actions")
    resolution_note = fields.Text(
        help="What was done, and why: required to resolve or dismiss an exception by hand, and "
        "kept in the audit log."
    )
    auto_resolved = fields.Boolean(
        readonly=True,
        copy=False,
        help="Closed by Odoo: a later event, a replay or a new mapping cleared it.",
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    # Grouping by root cause (DESIGN §5): see logistics_exception_grouping.py.
    grouping_key = fields.Char(
        index="btree_not_null",
        readonly=True,
        copy=False,
        help="Type, backend and root cause (error class and HTTP status, mapping key…): a new "
        "occurrence of an open exception with the same key is counted on it, not raised anew.",
    )
    occurrence_ids = fields.One2many(
        "logistics.exception.occurrence", "exception_id", string="Occurrences", readonly=True
    )
    occurrence_count = fields.Integer(
        string="Count",
        default=1,
        readonly=True,
        copy=False,
        aggregator="sum",
        help="How many times the root cause was seen while the exception was open.",
    )
    affected_shipment_count = fields.Integer(
        string="Shipments",
        default=0,
        readonly=True,
        copy=False,
        help="How many shipments the root cause hit while the exception was open.",
    )
    first_seen_at = fields.Datetime(
        string="First Seen", default=fields.Datetime.now, readonly=True, copy=False
    )
    last_seen_at = fields.Datetime(
        string="Last Seen", default=fields.Datetime.now, readonly=True, copy=False, index=True
    )
    held_by_id = fields.Many2one(
        "logistics.exception",
        string="Held Under",
        index="btree_not_null",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="The open partner-level exception (its backend is down, or refuses our "
        "credentials) that caused this one: held off the board until it clears.",
    )
    held_ids = fields.One2many("logistics.exception", "held_by_id", string="Held Exceptions")
    snoozed_until = fields.Datetime(
        copy=False,
        tracking=True,
        help="Off the board until then (a quick action of the board, audited).",
    )
    resolved_by_id = fields.Many2one(
        "res.users",
        readonly=True,
        copy=False,
        help="Who closed the exception; empty when Odoo closed it (Auto-Resolved).",
    )
    resolved_at = fields.Datetime(string="Closed On", readonly=True, copy=False)

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            check_company_member(self.env, vals_list)
            for vals in vals_list:
                self._check_by_hand(vals)
                stage = self.env["logistics.exception.stage"].browse(vals.get("stage_id"))
                if stage.is_closed:
                    self._check_resolution(vals.get("resolution_note"))
        exceptions = super().create(vals_list)
        if not self.env.su:
            exceptions.filtered("is_closed")._audit_resolution()
        return exceptions

    def write(self, vals):
        """Work exceptions (assign, annotate, move between open stages): Logistics Users.
        Resolve or dismiss one (move it to a closed stage) by hand: Logistics Managers only, with
        a resolution note, and audited; reopening one is audited too (DESIGN §6). Odoo's own
        closes (``_close_automatically``) run as superuser and are noted in the chatter.

        :raises AccessError: a User closing an exception, or a write of ``FLOW_FIELDS``
        :raises UserError: closing without a resolution note
        """
        if self.env.su:
            return super().write(vals)
        self._check_by_hand(vals)
        check_company_member(self.env, [vals])
        if self and {"type_id", "message_id"}.intersection(vals):
            # What an exception is about decides what closes it by itself (the type's
            # resolving events, the message's replay): changing it is a Manager's call.
            check_manager(self.env, self.env._("change what an exception is about"))
        if "stage_id" not in vals:
            return super().write(vals)
        stage = self.env["logistics.exception.stage"].browse(vals["stage_id"])
        closing = self.filtered(lambda x: not x.is_closed) if stage.is_closed else self.browse()
        reopening = self.browse() if stage.is_closed else self.filtered("is_closed")
        for exception in closing:
            exception._check_resolution(vals.get("resolution_note", exception.resolution_note))
        reopening._check_no_newer_card()
        if closing or reopening:
            vals = dict(vals, auto_resolved=False)
        if closing:
            vals.update(resolved_by_id=self.env.uid, resolved_at=fields.Datetime.now())
        elif reopening:
            vals.update(resolved_by_id=False, resolved_at=False)
        result = super().write(vals)
        closing._audit_resolution()
        # A partner-level exception resolved by hand releases what it held, as its auto-close.
        closing.filtered("type_id.partner_level")._release_held()
        if reopening:
            self.env["logistics.audit.log"]._record(
                "reopen", reopening, reason=vals.get("resolution_note")
            )
        return result

    def _check_no_newer_card(self):
        """A grouped card reopened while a newer open card counts the same root cause would be
        two cards for one cause (the grouping key's unique index refuses it): say so.

        :raises UserError: naming the open card to work instead
        """
        for exception in self.filtered("grouping_key"):
            newer = self.sudo().search(
                [
                    ("grouping_key", "=", exception.grouping_key),
                    ("is_closed", "=", False),
                    ("id", "!=", exception.id),
                ],
                limit=1,
            )
            if newer:
                raise UserError(
                    self.env._(
                        "%(card)s counts this root cause now: work that card instead of "
                        "reopening this one.",
                        card=newer.display_name,
                    )
                )

    def _check_by_hand(self, vals):
        # Besides FLOW_FIELDS: what Odoo computes and nobody may set (a write of the stored
        # related *Closed* would close an exception without its stage, note or audit).
        by_hand = {
            name
            for name in vals
            if name in FLOW_FIELDS
            or (name in self._fields and self._fields[name].compute and self._fields[name].readonly)
        }
        if by_hand:
            raise AccessError(
                self.env._(
                    "%(fields)s of an exception are set by Odoo, not by hand.",
                    fields=", ".join(sorted(self._fields[name].string for name in by_hand)),
                )
            )

    def _check_resolution(self, note):
        check_manager(self.env, self.env._("resolve or dismiss exceptions"))
        if not (note or "").strip():
            raise UserError(
                self.env._(
                    "Write what was done in the Resolution tab before resolving or dismissing "
                    "an exception."
                )
            )

    def _audit_resolution(self):
        for exception in self:
            self.env["logistics.audit.log"]._record(
                "resolve",
                exception,
                reason=exception.resolution_note,
                summary=self.env._(
                    "%(stage)s by hand: %(exception)s",
                    stage=exception.stage_id.name,
                    exception=exception.display_name,
                ),
            )

    @api.depends("type_id")
    def _compute_from_type(self):
        for exception in self:
            exception.severity = exception.type_id.severity or exception.severity or "medium"
            start = exception.create_date or fields.Datetime.now()
            hours = exception.type_id.resolution_hours
            exception.deadline = start + timedelta(hours=hours) if hours else False

    @api.depends("severity")
    def _compute_priority_rank(self):
        ranks = {code: rank for rank, (code, _label) in enumerate(SEVERITIES)}
        for exception in self:
            exception.priority_rank = ranks.get(exception.severity, 0)

    @api.model
    def _read_group_stage_ids(self, stages, domain):
        # All stages are board columns, even empty ones; there are a handful.
        return stages.search([])  # pylint: disable=no-search-all

    @api.model
    def _company_of(self, vals):
        """The company of the shipment, else of the backend, that ``vals`` name."""
        shipment = self.env["logistics.shipment"].sudo().browse(vals.get("shipment_id"))
        backend = self.env["logistics.backend"].sudo().browse(vals.get("backend_id"))
        return shipment.company_id or backend.company_id

    @api.model
    def _raise_once(self, type_code, vals):
        """Raise an exception unless one of this type is already open for the same shipment
        (or, without a shipment, the same partner event id): a condition seen again by a
        cron or a retry is one exception, not one per sighting."""
        domain = [("type_code", "=", type_code), ("is_closed", "=", False)]
        if vals.get("shipment_id"):
            domain.append(("shipment_id", "=", vals["shipment_id"]))
        if vals.get("source_event_id"):
            domain.append(("source_event_id", "=", vals["source_event_id"]))
        return self.search(domain, limit=1) or self._raise(type_code, [vals])

    @api.model
    def _retry_unmatched(self, references):
        """Events rejected because no shipment had one of these references have one now:
        process their dead messages again and close their exceptions. Events that came by RPC
        have no stored message to process again; their caller was told, and their exceptions
        stay open."""
        waiting = self.sudo().search(
            [
                ("unmatched_reference", "in", list(references)),
                ("is_closed", "=", False),
                ("message_id.state", "=", "dead"),
            ]
        )
        if not waiting:
            return waiting
        waiting.message_id._replay(
            self.env._("A shipment now has %(refs)s.", refs=", ".join(sorted(references)))
        )
        waiting._close_automatically(
            self.env._("A shipment got the reference; the event's message was processed again.")
        )
        return waiting

    @api.model
    def _cron_retry_unmatched(self):
        """Safety net of ``_retry_unmatched``: an event rejected in a transaction that committed
        after the shipment (or one of its packages) got its tracking number was not seen
        then."""
        self.env["logistics.shipment"].flush_model(["tracking_number"])
        self.env["logistics.package"].flush_model(["tracking_number"])
        self.flush_model(["unmatched_reference", "is_closed"])
        self.env.cr.execute(
            SQL(
                """
                SELECT DISTINCT x.unmatched_reference FROM logistics_exception x
                 WHERE x.unmatched_reference IS NOT NULL AND x.is_closed IS NOT TRUE
                   AND (EXISTS (SELECT 1 FROM logistics_shipment s
                                 WHERE s.tracking_number = x.unmatched_reference)
                        OR EXISTS (SELECT 1 FROM logistics_package p
                                    WHERE p.tracking_number = x.unmatched_reference))
                """
            )
        )
        references = {reference for (reference,) in self.env.cr.fetchall()}
        return self._retry_unmatched(references) if references else self.browse()

    def _auto_resolve(self, event):
        """Close these exceptions because ``event`` cleared their condition (noted in their
        chatter)."""
        self._close_automatically(
            self.env._(
                "Resolved by the %(type)s event of %(time)s.",
                type=event.type_id.code,
                time=event.occurred_at,
            ),
            chatter=self.env._(
                "Resolved automatically: %(type)s received from %(sender)s.",
                type=event.type_id.name,
                sender=event.backend_id.name or "Odoo",
            ),
        )

    def _close_automatically(self, note, chatter=None):
        """Move these exceptions to the closed stage, as resolved by Odoo, with ``note``, and
        say so in their chatter (``chatter``, or the note itself): DESIGN §2, an exception that
        resolves itself is noted in the chatter."""
        done = self.env["logistics.exception.stage"].search([("is_closed", "=", True)], limit=1)
        # As superuser: closing is a Manager's right when done by hand, but any user's events
        # may clear an exception (ingest over RPC runs as the caller).
        self.sudo().write(
            {
                "stage_id": done.id,
                "auto_resolved": True,
                "resolution_note": note,
                "resolved_by_id": False,
                "resolved_at": fields.Datetime.now(),
            }
        )
        for exception in self:
            exception.message_post(body=chatter or note)
