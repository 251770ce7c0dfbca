from odoo import api, fields, models
from odoo.exceptions import UserError

from .logistics_access import is_manager

# Kanban colour index (Odoo's palette) of each severity, for the cards' colour bar.
SEVERITY_COLORS = {"low": 10, "medium": 3, "high": 2, "critical": 1}


class LogisticsException(models.Model):
    """The exception board: what a card shows (severity colour, count, affected shipments,
    business impact) and its quick actions, each audited (DESIGN §5)."""

    _inherit = "logistics.exception"

    color = fields.Integer(compute="_compute_color")
    warehouse_id = fields.Many2one(
        related="shipment_id.warehouse_id", store=True, index="btree_not_null"
    )
    carrier_backend_id = fields.Many2one(
        related="shipment_id.carrier_backend_id",
        string="Carrier",
        store=True,
        index="btree_not_null",
    )
    sales_team_id = fields.Many2one(
        related="shipment_id.channel_id",
        string="Sales Channel",
        store=True,
        index="btree_not_null",
    )
    # The board's default filter ("On the Board") counts its columns and severity bars over the
    # open cards not held under another: with 20,000 exceptions of which 1,400 open (monitoring
    # benchmark), each of these two grouped counts took 19 ms scanning the table, 6.6 ms with
    # this index.
    _board_open_idx = models.Index(
        "(stage_id, severity) WHERE is_closed IS NOT TRUE AND held_by_id IS NULL"
    )
    impact_currency_id = fields.Many2one("res.currency", compute="_compute_impact")
    impact_amount = fields.Monetary(
        string="Orders at Stake",
        currency_field="impact_currency_id",
        compute="_compute_impact",
        help="Total of the sale orders of the shipments this exception hit (company currency).",
    )
    earliest_promised_date = fields.Datetime(
        compute="_compute_impact",
        help="The earliest delivery date promised to a customer among the shipments hit.",
    )
    board_actions = fields.Json(
        compute="_compute_board_actions",
        help="The quick actions the board offers on this exception: [{name, label}].",
    )

    @api.depends("severity")
    def _compute_color(self):
        for exception in self:
            exception.color = SEVERITY_COLORS.get(exception.severity, 0)

    def _compute_impact(self):
        """Orders at stake and the earliest promised date, over the exception's shipment and
        its occurrences' shipments: two grouped reads for the whole board page."""
        shipments_of = {exception.id: set(exception.shipment_id.ids) for exception in self}
        occurrences = (
            self.env["logistics.exception.occurrence"]
            .sudo()
            ._read_group(
                [("exception_id", "in", self.ids), ("shipment_id", "!=", False)],
                ["exception_id", "shipment_id"],
            )
        )
        for exception, shipment in occurrences:
            shipments_of[exception.id].add(shipment.id)
        all_ids = set().union(*shipments_of.values()) if shipments_of else set()
        shipments = self.env["logistics.shipment"].sudo().browse(all_ids)
        # In one query for the page, then each card's shipments from the cache: filtering the
        # page's shipments per card cost 120 x 566 tests and lost the prefetch (each card read
        # its orders on its own: 119 queries). The board's first page (monitoring benchmark,
        # 1,400 open cards, 120 shown) went from p50 277 ms to 116 ms.
        shipments.fetch(["sale_id", "promised_date"])
        shipments.sale_id.fetch(["amount_total", "currency_id", "date_order"])
        for exception in self:
            mine = shipments.browse(shipments_of[exception.id])
            currency = exception.company_id.currency_id
            exception.impact_currency_id = currency
            exception.impact_amount = sum(
                order.currency_id._convert(
                    order.amount_total, currency, exception.company_id, order.date_order
                )
                for order in mine.sale_id
            )
            promised = [date for date in mine.mapped("promised_date") if date]
            exception.earliest_promised_date = min(promised) if promised else False

    # --- quick actions --------------------------------------------------------------------------
    @api.depends_context("uid")
    def _compute_board_actions(self):
        for exception in self:
            exception.board_actions = [
                {"name": name, "label": label} for name, label in exception._board_actions()
            ]

    def _board_actions(self):
        """Hook: the quick actions the board offers on this (open) exception, as a list of
        ``(method name, label)``. The base offers assign to me, replay the linked messages,
        resolve with a note and snooze; connectors add theirs (route to an alternate carrier,
        accept the WMS quantity) by extending this list: the board knows no connector. Each
        method is a public ``action_*`` method of ``logistics.exception`` that checks its own
        rights and audits what it does.

        :return: list of (str, str)
        """
        self.ensure_one()
        if self.is_closed:
            return []
        # Replaying and resolving are a Manager's (DESIGN §6): not offered to others.
        manager = self._is_manager()
        actions = []
        if self.user_id != self.env.user:
            actions.append(("action_assign_to_me", self.env._("Assign to me")))
        if manager and self._replayable_messages():
            actions.append(("action_replay_messages", self.env._("Replay messages")))
        if manager:
            actions.append(("action_open_resolve", self.env._("Resolve with a note")))
        actions.append(("action_open_snooze", self.env._("Snooze")))
        return actions

    def _is_manager(self):
        """Whether the current user may run a Manager's quick action (offer it, then)."""
        return is_manager(self.env)

    def action_board(self, name):
        """RPC of the board's quick-action menu: run the quick action ``name`` on these
        exceptions, when ``_board_actions`` offers it on each of them.

        :param str name: an action's method name, as ``board_actions`` lists it
        :return: the action's result (an Odoo action dict, or True)
        :raises UserError: the action is not offered on one of the exceptions
        """
        for exception in self:
            if name not in {method for method, _label in exception._board_actions()}:
                raise UserError(
                    self.env._(
                        "“%(action)s” is not a quick action of %(exception)s.",
                        action=name,
                        exception=exception.display_name,
                    )
                )
        return getattr(self, name)()

    def action_assign_to_me(self):
        """Assign these exceptions to the current user (audited)."""
        self.write({"user_id": self.env.uid})
        self.env["logistics.audit.log"]._record(
            "assign", self, summary=self.env._("Assigned to %(user)s", user=self.env.user.name)
        )
        return True

    def _replayable_messages(self):
        messages = self.message_id | self.occurrence_ids.message_id
        return messages.filtered(lambda m: m.state in ("dead", "rejected") and not m.replay_ids)

    def action_replay_messages(self):
        """Open the replay wizard on the dead or rejected messages linked to these exceptions
        (their own and their occurrences'): replays are audited with the wizard's reason."""
        messages = self._replayable_messages()
        if not messages:
            raise UserError(self.env._("These exceptions have no dead message left to replay."))
        return messages.action_open_replay_wizard()

    def action_open_resolve(self):
        return self._open_board_wizard("resolve")

    def action_open_snooze(self):
        return self._open_board_wizard("snooze")

    def _open_board_wizard(self, mode):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Resolve") if mode == "resolve" else self.env._("Snooze"),
            "res_model": "logistics.exception.board.wizard",
            "view_mode": "form",
            "target": "new",
            "context": {"default_mode": mode, "default_exception_ids": self.ids},
        }

    def _snooze(self, until, reason):
        """Take these exceptions off the board until ``until`` (a datetime), audited."""
        if until <= fields.Datetime.now():
            raise UserError(self.env._("Snooze until a time in the future."))
        self.write({"snoozed_until": until})
        self.env["logistics.audit.log"]._record(
            "snooze",
            self,
            reason=reason,
            summary=self.env._("Snoozed until %(until)s", until=until),
        )

    # --- digests --------------------------------------------------------------------------------
    @api.model
    def _cron_send_digests(self):
        """Cron: each team whose digest is due gets one email per company listing its open
        exceptions on the board (not held, not snoozed) of that company, sent to the members
        who belong to it, when it has any.

        :return: the number of digests sent (int)
        """
        now = fields.Datetime.now()
        periods = {"hourly": 3600, "daily": 86400}
        sent = 0
        for team in self.env["logistics.team"].search(
            [("digest_interval", "!=", "never"), ("member_ids", "!=", False)]
        ):
            last = team.last_digest_at
            if last and (now - last).total_seconds() < periods[team.digest_interval] - 60:
                continue
            team.last_digest_at = now
            open_ones = self.sudo().search(
                [
                    ("team_id", "=", team.id),
                    ("is_closed", "=", False),
                    ("held_by_id", "=", False),
                    "|",
                    ("snoozed_until", "=", False),
                    ("snoozed_until", "<=", now),
                ]
            )
            # One digest per company, to the members of that company only.
            for company in open_ones.company_id:
                members = team.member_ids.filtered(lambda u, c=company: c in u.company_ids)
                if members:
                    open_ones.filtered(lambda x, c=company: x.company_id == c)._send_digest(
                        team, members
                    )
                    sent += 1
        return sent

    def _send_digest(self, team, members):
        body = self.env["ir.qweb"]._render(
            "logistics_integration_base.exception_digest",
            # The database's base URL: get_base_url() of a record set wants one record at most.
            {"team": team, "exceptions": self, "base_url": self.browse().get_base_url()},
        )
        self.env["mail.mail"].sudo().create(
            {
                "subject": self.env._(
                    "%(team)s: %(count)s open logistics exceptions",
                    team=team.name,
                    count=len(self),
                ),
                "body_html": body,
                "recipient_ids": [(6, 0, members.partner_id.ids)],
                "auto_delete": True,
            }
        )
