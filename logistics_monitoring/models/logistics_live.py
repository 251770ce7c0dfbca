"""Live updates: what a transaction changed of the monitored models, sent to the web client once,
when the transaction is about to commit, through Odoo's bus (ids only; each client reads the
records again with its own rights)."""

from odoo import api, models

# The bus sub-channel of a company (``(res.company record, LIVE_CHANNEL)``) and the notification
# type the web client's ``logistics_live`` service listens to.
LIVE_CHANNEL = "logistics_live"
LIVE_NOTIFICATION = "logistics_live/changed"
# The models whose creations and changes are announced.
LIVE_MODELS = (
    "logistics.event",
    "logistics.exception",
    "logistics.message",
    "logistics.shipment",
)
# cr.precommit.data key: {company id: {model name: set of ids}}
PENDING_KEY = "logistics_monitoring.live_changes"
LIVE_GROUPS = (
    "logistics_integration_base.group_logistics_user",
    "logistics_integration_base.group_logistics_auditor",
)


class LogisticsLive(models.AbstractModel):
    """Collects, per transaction, the ids of the monitored records created or changed and sends
    them in one bus notification per company when the transaction is flushed for its commit."""

    _name = "logistics.live"
    _description = "Logistics Live Updates"

    @api.model
    def _record_changes(self, model_name, ids_by_company):
        """Note that records of ``model_name`` were created or changed in this transaction.

        Nothing is sent now: the ids are collected in the cursor's pre-commit data and one
        notification per company is sent by ``_send_changes`` when the transaction is
        flushed (``cr.precommit``, Odoo's per-transaction hook; the bus itself writes its rows
        there). A rolled-back transaction sends nothing: its pre-commit data is cleared.

        :param model_name: one of ``LIVE_MODELS``
        :param ids_by_company: ``{company id: iterable of record ids}``
        """
        precommit = self.env.cr.precommit
        pending = precommit.data.get(PENDING_KEY)
        if pending is None:
            pending = precommit.data[PENDING_KEY] = {}
            precommit.add(self._send_changes)
        for company_id, ids in ids_by_company.items():
            if company_id and ids:
                pending.setdefault(company_id, {}).setdefault(model_name, set()).update(ids)

    @api.model
    def _record_records(self, records):
        """``_record_changes`` for a recordset of a model with a ``company_id``."""
        by_company = {}
        for record in records.sudo():
            by_company.setdefault(record.company_id.id, []).append(record.id)
        self._record_changes(records._name, by_company)

    def _send_changes(self):
        """Pre-commit hook: one bus notification per company whose records changed, of type
        ``LIVE_NOTIFICATION`` on the channel ``(company, LIVE_CHANNEL)``, with the payload
        ``{model name: [ids, ascending]}``. Odoo runs pre-commit hooks when the transaction
        commits, and also when a savepoint opened with ``cr.savepoint()`` is released: work
        done in several such steps announces each step once (never each record)."""
        pending = self.env.cr.precommit.data.pop(PENDING_KEY, None)
        if not pending:
            return
        Bus = self.env["bus.bus"].sudo()
        companies = self.env["res.company"].sudo().browse(sorted(pending))
        for company in companies:
            payload = {model: sorted(ids) for model, ids in sorted(pending[company.id].items())}
            Bus._sendone((company, LIVE_CHANNEL), LIVE_NOTIFICATION, payload)

    @api.model
    def _live_channels(self, user):
        """The bus channels of ``user``: one per company they belong to, if they see the
        suite (Logistics User, Manager or Auditor); none otherwise. A user of company A never
        hears of company B's records, even by id."""
        if not any(user.has_group(group) for group in LIVE_GROUPS):
            return []
        return [(company, LIVE_CHANNEL) for company in user.company_ids]


class IrWebsocket(models.AbstractModel):
    _inherit = "ir.websocket"

    def _build_bus_channel_list(self, channels):
        """Subscribe the web client of a Logistics user to their companies' live channels
        (``logistics.live._live_channels``), next to Odoo's own channels."""
        channels = super()._build_bus_channel_list(channels)
        if self.env.uid and not self.env.user._is_public():
            channels.extend(self.env["logistics.live"]._live_channels(self.env.user))
        return channels


class LogisticsShipment(models.Model):
    _inherit = "logistics.shipment"

    @api.model_create_multi
    def create(self, vals_list):
        shipments = super().create(vals_list)
        self.env["logistics.live"]._record_records(shipments)
        return shipments

    def write(self, vals):
        result = super().write(vals)
        self.env["logistics.live"]._record_records(self)
        return result


class LogisticsException(models.Model):
    _inherit = "logistics.exception"

    @api.model_create_multi
    def create(self, vals_list):
        exceptions = super().create(vals_list)
        exceptions._record_live_changes()
        return exceptions

    def write(self, vals):
        result = super().write(vals)
        self._record_live_changes()
        return result

    def _record_live_changes(self):
        # A shipment's "Open Exception" mark follows its exceptions (a stored compute, which
        # writes no shipment): the shipment lists hear of it too.
        live = self.env["logistics.live"]
        live._record_records(self)
        live._record_records(self.sudo().shipment_id)


class LogisticsMessage(models.Model):
    _inherit = "logistics.message"

    @api.model_create_multi
    def create(self, vals_list):
        messages = super().create(vals_list)
        self.env["logistics.live"]._record_records(messages)
        return messages

    def write(self, vals):
        result = super().write(vals)
        self.env["logistics.live"]._record_records(self)
        return result

    @api.model
    def _store_inbound(self, backend, operation, payload, raw, partner_event_id, correlation_id):
        """Inbound messages are stored in one INSERT on the webhook's hot path, without the
        ORM's ``create``: announced here."""
        message_id, job_pending = super()._store_inbound(
            backend, operation, payload, raw, partner_event_id, correlation_id
        )
        if message_id:
            self.env["logistics.live"]._record_changes(
                self._name, {backend.company_id.id: [message_id]}
            )
        return message_id, job_pending


class LogisticsEvent(models.Model):
    _inherit = "logistics.event"

    def _insert(self, backend, rows, recorded_at):
        """Events are inserted in one statement (``ingest_events``' hot path), and their
        shipments' status set by another (``_apply_status``), both without the ORM: the
        inserted events and their shipments are announced here. All of a batch's shipments
        are of the backend's company (``_find_shipments``)."""
        inserted = super()._insert(backend, rows, recorded_at)
        if inserted:
            company = backend.company_id.id
            live = self.env["logistics.live"]
            live._record_changes(self._name, {company: inserted.values()})
            shipment_ids = {
                row["shipment_id"] for row in rows if row["event"]["event_id"] in inserted
            }
            live._record_changes("logistics.shipment", {company: shipment_ids})
        return inserted
