import secrets

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from .logistics_access import check_company_member
from .logistics_ownership_rule import OWNER_KINDS

# Set by the flow only (the transfer the shipment is created for, ingest, reactions, the label
# purchase): see ``write``.
FLOW_FIELDS = {
    "picking_id",
    "sale_id",
    "partner_id",
    "warehouse_id",
    "status_id",
    "status_code",
    "status_event_ref",
    "status_at",
    "status_owner",
    "status_rank",
    "delivered_at",
    "tracking_number",
    "channel_id",
}


def new_trace_id():
    """A W3C trace id: 32 lowercase hex digits, not all zero."""
    return secrets.token_hex(16)


class LogisticsShipment(models.Model):
    """The canonical shipment: one per outgoing transfer (and per return)."""

    _name = "logistics.shipment"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _description = "Logistics Shipment"
    _order = "id desc"
    # The transfer, order, warehouse and backends of a shipment are of its company.
    _check_company_auto = True

    name = fields.Char(
        string="Reference", required=True, readonly=True, copy=False, default="New", index=True
    )
    # Indexed by its unique constraint (below), like picking_id: an index of their own would be
    # a second copy to maintain on every status change that cannot stay in its page.
    correlation_id = fields.Char(
        required=True,
        readonly=True,
        copy=False,
        default=lambda self: new_trace_id(),
        help="W3C trace id sent on every partner call and kept on every message and event of "
        "this shipment: one id finds everything about it.",
    )
    direction = fields.Selection(
        [("outgoing", "Outgoing"), ("return", "Return")], required=True, default="outgoing"
    )
    picking_id = fields.Many2one(
        "stock.picking", string="Transfer", readonly=True, ondelete="set null", check_company=True
    )
    sale_id = fields.Many2one(
        "sale.order", string="Sale Order", readonly=True, index=True, check_company=True
    )
    # Taken from the transfer when the shipment is created (``_create_for_pickings``).
    partner_id = fields.Many2one(
        "res.partner", string="Customer", index=True, readonly=True, check_company=True
    )
    warehouse_id = fields.Many2one("stock.warehouse", index=True, readonly=True, check_company=True)
    channel_id = fields.Many2one(
        "crm.team",
        string="Sales Channel",
        index=True,
        readonly=True,
        help="The sales channel (sales team) of the order the shipment came from: SLA policies, "
        "dashboard tiles and alert rules are scoped by it.",
    )
    wms_backend_id = fields.Many2one(
        "logistics.backend",
        string="WMS Backend",
        domain=[("kind", "=", "wms")],
        index=True,
        check_company=True,
    )
    carrier_backend_id = fields.Many2one(
        "logistics.backend", domain=[("kind", "=", "carrier")], index=True, check_company=True
    )
    tracking_number = fields.Char(index=True, tracking=True, readonly=True)
    # The status columns are deliberately not indexed: every milestone updates them, and an
    # update that touches no indexed column stays a cheap in-page (HOT) update. Not tracked in
    # the chatter: ingest moves the status in SQL, by batch, which tracking doesn't see, so the
    # chatter showed some changes and not others. The events are the status's history.
    status_id = fields.Many2one("logistics.event.type", readonly=True)
    status_code = fields.Char(related="status_id.code", store=True)
    # The id of the event that set the status, as a plain integer: a foreign key would make
    # every status change check (and lock, FOR KEY SHARE) that event's row, which cost six times
    # the update itself in a 1,000-shipment batch. Events are never deleted on their own (only
    # with their shipment), so the id stays valid.
    status_event_ref = fields.Integer(string="Status Event ID", readonly=True, aggregator=None)
    status_event_id = fields.Many2one(
        "logistics.event", string="Status Set By", compute="_compute_status_event_id"
    )
    status_at = fields.Datetime(
        string="Status Time", readonly=True, help="When the event that set the status occurred."
    )
    # Kept apart from the status: under a side branch (a carrier exception), the progress made
    # so far still decides which milestones move the status (DESIGN §2, ``moves_status``).
    status_rank = fields.Integer(
        string="Progress Rank",
        required=True,
        readonly=True,
        default=0,
        aggregator=None,
        help="The highest rank reached on the main progression (order_released 10 … delivered "
        "100, returning 110, returned 120); an event of a lower rank arrives late.",
    )
    status_owner = fields.Selection(OWNER_KINDS, readonly=True)
    # Unlike the status columns, this one changes once in a shipment's life (its first
    # milestone), so an index on it costs one non-HOT update per shipment, not one per
    # milestone: the monitoring's "awaiting release" tile reads a partial index of the
    # shipments without one instead of scanning the table (30 ms of the benchmark's dashboard).
    # Ingest's status UPDATE sets it in SQL along with the status.
    has_milestone = fields.Boolean(
        compute="_compute_has_milestone",
        store=True,
        help="A milestone has set the shipment's status (it left 'awaiting release').",
    )
    promised_date = fields.Datetime(help="Delivery date promised to the customer.")
    estimated_delivery = fields.Datetime()
    delivered_at = fields.Datetime(readonly=True)
    currency_id = fields.Many2one(
        "res.currency", default=lambda self: self.env.company.currency_id, required=True
    )
    freight_estimate = fields.Monetary(currency_field="currency_id")
    freight_actual = fields.Monetary(currency_field="currency_id")
    # Canonical: the carrier connector sends it with the label purchase, finance reconciles
    # the carrier's remittance against it. Tracked, and audited when a person sets it.
    cod_amount = fields.Monetary(
        string="Cash on Delivery",
        currency_field="currency_id",
        copy=False,
        tracking=True,
        help="What the carrier collects from the consignee at delivery, in the shipment's "
        "currency (0: no cash on delivery). Set from a sale order paid by cash on delivery, "
        "or by hand until the labels are bought: the label carries it.",
    )
    cod_locked = fields.Boolean(
        compute="_compute_cod_locked",
        help="The labels are being bought or are bought: the cash on delivery they carry "
        "no longer changes.",
    )
    event_ids = fields.One2many("logistics.event", "shipment_id")
    event_count = fields.Integer(compute="_compute_counts")
    exception_ids = fields.One2many("logistics.exception", "shipment_id")
    sla_ids = fields.One2many("logistics.shipment.sla", "shipment_id", string="SLAs")
    open_exception_count = fields.Integer(compute="_compute_counts")
    has_exception = fields.Boolean(
        compute="_compute_has_exception", store=True, string="Open Exception"
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    # Measures of the graph and pivot views, not stored (they grow by themselves or follow two
    # columns): aggregated from their columns in SQL (``_read_group_select``).
    age_hours = fields.Float(
        string="Age (hours)",
        compute="_compute_durations",
        aggregator="avg",
        digits=(16, 1),
        help="Hours since the shipment was created (its transfer confirmed).",
    )
    delivery_hours = fields.Float(
        string="Hours to Delivery",
        compute="_compute_durations",
        aggregator="avg",
        digits=(16, 1),
        help="Hours from the shipment's creation to its delivery (delivered shipments only).",
    )

    _picking_uniq = models.Constraint(
        "unique (picking_id)", "A transfer has one logistics shipment."
    )
    _correlation_uniq = models.Constraint(
        "unique (correlation_id)", "A correlation id belongs to one shipment."
    )

    def init(self):
        # Room in each page for the status updates every milestone makes: an update that finds
        # room in its page (HOT) touches none of the table's indexes. In the ingest benchmark,
        # 72 % of the updates were HOT at 80, 85 % at 70 and 98 % at 50 (with a table twice
        # the size); 70 is the balance.
        self.env.cr.execute("ALTER TABLE logistics_shipment SET (fillfactor = 70)")

    @api.model_create_multi
    def create(self, vals_list):
        check_company_member(self.env, vals_list)
        for vals in vals_list:
            if vals.get("name", "New") == "New":
                vals["name"] = self.env["ir.sequence"].next_by_code("logistics.shipment") or "New"
        return super().create(vals_list)

    def write(self, vals):
        """The fields the flow sets (``FLOW_FIELDS``: the transfer, order, customer and
        warehouse the shipment was created for, the status and what its events bring: tracking
        number, delivery time) change only through the suite's own code (the transfer's
        shipment creation, events, the label purchase), never by a person's or an RPC client's
        write, whatever their group: a tracking number typed in would also replay other
        shipments' pending events to this one, and a customer or warehouse typed in would
        disagree with the transfer the partners work from.

        A shipment moves only to a company the user belongs to, and only with its transfer,
        order, warehouse and backends (``check_company``).

        :raises AccessError: a write of one of ``FLOW_FIELDS`` outside the flow (not sudo), or
            into a company the user doesn't belong to
        :raises UserError: a company inconsistency (Odoo's ``_check_company``)
        """
        check_company_member(self.env, [vals])
        by_hand = FLOW_FIELDS.intersection(vals)
        if by_hand and not self.env.su:
            raise AccessError(
                self.env._(
                    "%(fields)s of a shipment are set by the flow (its transfer, its events, "
                    "the label purchase), not by hand.",
                    fields=", ".join(sorted(self._fields[name].string for name in by_hand)),
                )
            )
        cod_before = self._check_cod_amount_change(vals) if "cod_amount" in vals else None
        result = super().write(vals)
        if cod_before:
            self._audit_cod_amount_change(cod_before)
        if vals.get("tracking_number"):
            # A carrier's tracking update can come before the label purchase that brings the
            # number is committed (a retried purchase, say): its events wait for it.
            self.env["logistics.exception"]._retry_unmatched({vals["tracking_number"]})
        return result

    def _check_cod_amount_change(self, vals):
        """The cash on delivery of a shipment changes until its labels are bought (by anyone,
        the flow included: the label carries the amount to the carrier). A person's change is
        audited (``_audit_cod_amount_change``).

        :return: {shipment id: amount before} of the shipments whose amount a person changes
            (empty for the suite's own code, running as superuser)
        :raises UserError: a shipment whose labels are being bought or are bought, or a
            negative amount
        """
        if (vals["cod_amount"] or 0.0) < 0:
            raise UserError(self.env._("A cash on delivery amount is zero or more."))
        changed = self.filtered(
            lambda shipment: shipment.currency_id.compare_amounts(
                shipment.cod_amount, vals["cod_amount"] or 0.0
            )
        )
        locked = changed.filtered("cod_locked")
        if locked:
            raise UserError(
                self.env._(
                    "The labels of %(refs)s are bought (or being bought) with their cash on "
                    "delivery: it can't change now. Cancel the labels first.",
                    refs=", ".join(locked.mapped("name")),
                )
            )
        return {} if self.env.su else {shipment.id: shipment.cod_amount for shipment in changed}

    def _audit_cod_amount_change(self, before):
        """One audit log entry per shipment whose cash on delivery a person changed: money the
        carrier collects on our behalf, so who set it and from what is kept (DESIGN §6)."""
        label = self._fields["cod_amount"].string
        for shipment in self.filtered(lambda s: s.id in before):
            self.env["logistics.audit.log"]._record(
                "write",
                shipment,
                changes=f"{label}: {before[shipment.id]:.2f} → {shipment.cod_amount:.2f} "
                f"{shipment.currency_id.name}",
            )

    @api.depends("package_ids.tracking_number")
    def _compute_cod_locked(self):
        for shipment in self:
            shipment.cod_locked = shipment._cod_locked()

    def _cod_locked(self):
        """Whether the shipment's labels are being bought or are bought (a package has its
        tracking number, or ``_packages_settled``): the cash on delivery went with them."""
        self.ensure_one()
        return any(self.sudo().package_ids.mapped("tracking_number")) or self._packages_settled()

    @api.depends("create_date", "delivered_at")
    def _compute_durations(self):
        now = fields.Datetime.now()
        for shipment in self:
            start = shipment.create_date or now
            shipment.age_hours = (now - start).total_seconds() / 3600
            shipment.delivery_hours = (
                (shipment.delivered_at - start).total_seconds() / 3600
                if shipment.delivered_at
                else 0.0
            )

    def _read_group_select(self, aggregate_spec, query):
        name, __, function = aggregate_spec.partition(":")
        if name in ("age_hours", "delivery_hours") and function in ("avg", "max", "min"):
            end = (
                SQL("NOW() AT TIME ZONE 'UTC'")
                if name == "age_hours"
                else self._field_to_sql(self._table, "delivered_at", query)
            )
            return SQL(
                "%s(EXTRACT(EPOCH FROM (%s - %s)) / 3600.0)",
                SQL(function.upper()),
                end,
                self._field_to_sql(self._table, "create_date", query),
            )
        return super()._read_group_select(aggregate_spec, query)

    @api.depends("status_event_ref")
    def _compute_status_event_id(self):
        for shipment in self:
            shipment.status_event_id = self.env["logistics.event"].browse(
                shipment.status_event_ref or ()
            )

    @api.depends("status_id")
    def _compute_has_milestone(self):
        for shipment in self:
            shipment.has_milestone = bool(shipment.status_id)

    @api.depends("exception_ids.is_closed")
    def _compute_has_exception(self):
        for shipment in self:
            shipment.has_exception = any(not e.is_closed for e in shipment.exception_ids)

    def _compute_counts(self):
        events = dict(
            self.env["logistics.event"]._read_group(
                [("shipment_id", "in", self.ids)], ["shipment_id"], ["__count"]
            )
        )
        exceptions = dict(
            self.env["logistics.exception"]._read_group(
                [("shipment_id", "in", self.ids), ("is_closed", "=", False)],
                ["shipment_id"],
                ["__count"],
            )
        )
        for shipment in self:
            shipment.event_count = events.get(shipment, 0)
            shipment.open_exception_count = exceptions.get(shipment, 0)

    @api.model
    def _create_for_pickings(self, pickings):
        """One shipment per outgoing transfer or return of one, unless it has one already."""
        eligible = pickings.filtered(
            lambda p: (
                p.picking_type_id.code == "outgoing"
                or p.return_id.picking_type_id.code == "outgoing"
            )
        )
        if not eligible:
            return self.browse()
        existing = self.sudo().search([("picking_id", "in", eligible.ids)]).picking_id
        return (
            self.sudo()
            .create(
                [
                    {
                        "picking_id": picking.id,
                        "sale_id": picking.sale_id.id,
                        "channel_id": picking.sale_id.team_id.id,
                        "partner_id": picking.partner_id.id,
                        "warehouse_id": picking.picking_type_id.warehouse_id.id,
                        "direction": "return" if picking.return_id else "outgoing",
                        "promised_date": self._promised_date_of(picking),
                        "company_id": picking.company_id.id,
                    }
                    for picking in eligible - existing
                ]
            )
            .sudo(False)
        )

    @api.model
    def _promised_date_of(self, picking):
        """The delivery date promised to the customer of ``picking``, or False: the order's
        *Delivery Date* (``sale.order.commitment_date``); else the transfer's deadline when it
        lies after the order date (a customer lead time promised it; with none, Odoo's
        deadline is the order date itself, which promises nothing); a transfer without an order,
        its deadline. Read by the *Delivered by the promised date* SLA policy."""
        order = picking.sale_id
        if order.commitment_date:
            return order.commitment_date
        deadline = picking.date_deadline
        if order and deadline and deadline <= order.date_order:
            return False
        return deadline or False

    def _expected_milestone_due(self):
        """When the next milestones of these shipments are due, by the SLA policies watching
        them (their open ``logistics.shipment.sla`` rows: "after A, B within T" and "B by the
        promised date"; a silence clock expects no milestone in particular). Read by the
        shipment timeline to draw what is still expected (``logistics.shipment.get_timeline``,
        addon logistics_monitoring). It may return a due time for a milestone that the shipment
        has reached already (or gone past): the caller keeps only the milestones after the
        status. Read with the caller's rights, in one query for the whole recordset.

        :return: ``{shipment id: {event type code: due time}}``, due times as naive UTC
            datetimes (Odoo's Datetime); the earlier time when two policies expect the same
            milestone
        """
        due = {}
        for shipment, target, due_at in self.env["logistics.shipment.sla"]._read_group(
            [
                ("shipment_id", "in", self.ids),
                ("state", "!=", "met"),
                ("policy_id.kind", "!=", "silence"),
                ("due_at", "!=", False),
            ],
            ["shipment_id", "policy_id.target_type_id"],
            ["due_at:min"],
        ):
            self._merge_milestone_due(due, {shipment.id: {target.code: due_at}})
        return due

    @staticmethod
    def _merge_milestone_due(due, more):
        """``more`` merged into ``due`` (both shaped as ``_expected_milestone_due``'s answer),
        keeping the earlier time when two rules expect the same milestone; returns ``due``."""
        for shipment_id, milestones in more.items():
            mine = due.setdefault(shipment_id, {})
            for code, due_at in milestones.items():
                if code not in mine or due_at < mine[code]:
                    mine[code] = due_at
        return due

    def action_view_events(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Events of %(name)s", name=self.name),
            "res_model": "logistics.event",
            "view_mode": "list,form",
            "domain": [("shipment_id", "=", self.id)],
            "context": {"default_shipment_id": self.id},
        }

    def action_view_exceptions(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Exceptions of %(name)s", name=self.name),
            "res_model": "logistics.exception",
            "view_mode": "list,form",
            "domain": [("shipment_id", "=", self.id)],
        }
