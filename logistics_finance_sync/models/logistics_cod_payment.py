import logging

from odoo import api, models
from odoo.exceptions import UserError, ValidationError

from .logistics_freight_audit import CENT

_logger = logging.getLogger(__name__)

# Customer invoices whose residual a remittance may pay.
PAYABLE_STATES = ("not_paid", "partial")


class LogisticsCodRemittanceLine(models.Model):
    """Remittances paid in: each reconciled (or short) line is registered as a payment of the
    billing backend's COD bank journal against the posted customer invoice(s) of its
    shipment's sale order, with Odoo's own payment wizard (``account.payment.register``):
    its payment difference handling writes the carrier's deduction off to the COD Fee
    Account when the remittance plus the deduction settles the invoice. Never a payment on
    nothing: an order without a posted invoice left to pay makes the line wait, and a person
    gets an activity on the order."""

    _inherit = "logistics.cod.remittance.line"

    def _post_payments(self):
        """Register the payments of these lines that are to post or wait for an invoice
        (reconciled or short ones); each in a savepoint of its own, so that one Odoo refuses
        (a closed period, a journal without an inbound method) leaves the others posted and
        says why on its line.

        :return: the number of payments registered
        """
        posted = 0
        for line in self.sudo().filtered(
            lambda line: (
                line.payment_state in ("to_post", "waiting")
                and line.state in ("reconciled", "short")
            )
        ):
            posted += line._post_payment()
        return posted

    def _post_payment(self):
        """Register this line's payment, or say why it waits. Returns 1 when registered."""
        self.ensure_one()
        backend = self.remittance_id.source_backend_id
        if not backend.cod_journal_id:
            self.payment_note = self.env._(
                "%(backend)s has no COD Bank Journal: set one, then Post Payments.",
                backend=backend.name or "-",
            )
            return 0
        order = self.shipment_id.sale_id
        invoices = order.invoice_ids.filtered(
            lambda move: (
                move.move_type == "out_invoice"
                and move.state == "posted"
                and move.payment_state in PAYABLE_STATES
                and not move.currency_id.is_zero(move.amount_residual)
            )
        )
        if not invoices:
            self._wait_for_invoice(order)
            return 0
        try:
            with self.env.cr.savepoint():
                payment, note = self._register_payment(invoices, backend)
        except (UserError, ValidationError) as error:
            _logger.warning(
                "[%s] COD payment of %s not registered: %s",
                self.shipment_id.correlation_id,
                self.display_name,
                error,
            )
            self.payment_note = str(error)[:250]
            self.remittance_id.message_post(
                body=self.env._(
                    "The payment of %(line)s was not registered: %(reason)s",
                    line=self.display_name,
                    reason=str(error),
                )
            )
            return 0
        self.write({"payment_id": payment.id, "payment_state": "posted", "payment_note": note})
        return 1

    def _register_payment(self, invoices, backend):
        """The payment of ``remitted`` (the remittance's currency and date) against
        ``invoices``, through Odoo's payment wizard: the deduction is written off to the COD
        Fee Account when the line is reconciled and the invoices' residual is the remitted
        amount plus the deduction (within the COD Tolerance); otherwise what is not paid stays
        open on the invoices (a short line's shortage is a person's to settle, from its
        cod_mismatch exception).

        :return: (the posted ``account.payment``, what was booked, in words)
        :raises UserError: Odoo refuses the payment
        """
        remittance = self.remittance_id
        currency = remittance.currency_id
        company = remittance.company_id
        date = remittance.remittance_date
        residual = sum(
            invoice.currency_id._convert(invoice.amount_residual, currency, company, date)
            for invoice in invoices
        )
        tolerance = backend.cod_currency_id._convert(backend.cod_tolerance, currency, company, date)
        write_off = (
            self.state == "reconciled"
            and bool(backend.cod_fee_account_id)
            and self.deduction > CENT
            and abs(residual - self.remitted - self.deduction) <= tolerance + CENT
        )
        values = {
            "journal_id": backend.cod_journal_id.id,
            "amount": self.remitted,
            "currency_id": currency.id,
            "payment_date": date,
            "communication": self.env._(
                "COD %(remittance)s %(shipment)s",
                remittance=remittance.name,
                shipment=self.shipment_id.name,
            ),
            "group_payment": True,
            "payment_difference_handling": "reconcile" if write_off else "open",
        }
        if write_off:
            values.update(
                writeoff_account_id=backend.cod_fee_account_id.id,
                writeoff_label=self.env._(
                    "COD fee %(remittance)s %(shipment)s",
                    remittance=remittance.name,
                    shipment=self.shipment_id.name,
                ),
            )
        wizard = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoices.ids)
            .create(values)
        )
        payment = wizard._create_payments()
        left = residual - self.remitted - (self.deduction if write_off else 0.0)
        note = self.env._(
            "%(amount)s %(currency)s paid on %(invoices)s",
            amount=currency.round(self.remitted),
            currency=currency.name,
            invoices=", ".join(invoices.mapped("name")),
        )
        if write_off:
            note += self.env._(
                "; COD fee %(fee)s written off to %(account)s",
                fee=currency.round(self.deduction),
                account=backend.cod_fee_account_id.display_name,
            )
        elif left > CENT:
            note += self.env._("; %(left)s left open", left=currency.round(left))
        return payment, note

    def _wait_for_invoice(self, order):
        """The line waits for a posted invoice of its order; a person is told once, by an
        activity on the order (the remittance, for a shipment of no order)."""
        self.ensure_one()
        remittance = self.remittance_id
        self.write(
            {
                "payment_state": "waiting",
                "payment_note": self.env._(
                    "%(order)s has no posted invoice left to pay.",
                    order=order.name or self.shipment_id.name,
                ),
            }
        )
        target = order or remittance
        summary = self.env._(
            "COD %(remittance)s: post the invoice of %(shipment)s",
            remittance=remittance.name,
            shipment=self.shipment_id.name,
        )
        if target.activity_ids.filtered(lambda activity: activity.summary == summary):
            return
        target.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=summary,
            note=self.env._(
                "The carrier remitted %(amount)s %(currency)s of cash on delivery for "
                "%(shipment)s (remittance %(remittance)s), and there is no posted invoice to "
                "pay with it. Post the invoice: the payment is registered then.",
                amount=remittance.currency_id.round(self.remitted),
                currency=remittance.currency_id.name,
                shipment=self.shipment_id.name,
                remittance=remittance.name,
            ),
            user_id=(order.user_id or self.env.user).id,
        )

    @api.model
    def _post_waiting_payments(self):
        """Job and daily batch: register the payments still to post or waiting for an
        invoice (an invoice posted since, a bank journal set since).

        :return: the number of payments registered"""
        return (
            self.sudo()
            .search(
                [
                    ("payment_state", "in", ("to_post", "waiting")),
                    ("state", "in", ("reconciled", "short")),
                ]
            )
            ._post_payments()
        )

    @api.model
    def _enqueue_waiting_payments(self):
        """Queue ``_post_waiting_payments`` (one job at a time), on the channel and priority
        of the ``cod_reconciliation`` flow."""
        options = self.env["logistics.flow"]._job_options(
            "cod_reconciliation", self.env["logistics.backend"]
        )
        self.with_delay(
            **options,
            description="Register COD payments waiting for an invoice",
            identity_key="logistics-cod-waiting-payments",
        )._post_waiting_payments()
