from datetime import date, datetime

from odoo.tests import TransactionCase, new_test_user

from odoo.addons.logistics_integration_base.tests.common import GROUP_MANAGER, GROUP_USER

INVOICE_DATE = "2026-11-30"


def invoice(number, lines, currency="USD", total=None, invoice_date=INVOICE_DATE, **header):
    """A canonical carrier invoice document (``adapters``'s contract)."""
    return {
        "invoice_number": number,
        "invoice_date": invoice_date,
        "currency": currency,
        "total": total if total is not None else round(sum(line["amount"] for line in lines), 2),
        "carrier": "USPS",
        "credit_of": None,
        **header,
        "lines": [
            {
                "tracking_number": None,
                "shipment_ref": None,
                "billed_weight": None,
                "weight_unit": None,
                "description": None,
                "service": None,
                **line,
            }
            for line in lines
        ],
    }


def charge(tracking_number, code, amount, **values):
    return {"tracking_number": tracking_number, "charge_code": code, "amount": amount, **values}


class FreightCase(TransactionCase):
    """A carrier, its billing backend, customers (a company and a person), and
    ``shipment()`` to make a shipment with labelled packages."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["logistics.subscription"].search([]).unlink()
        Backend = cls.env["logistics.backend"]
        cls.usd = cls.env.ref("base.USD")
        cls.eur = cls.env.ref("base.EUR")
        cls.env.company.currency_id = cls.usd
        cls.carrier = Backend.create(
            {"name": "Audit Carrier", "code": "audit_carrier", "kind": "carrier"}
        )
        cls.billing = Backend.create(
            {
                "name": "Audit Carrier Billing",
                "code": "audit_billing",
                "kind": "finance",
                "adapter": "freight_billing",
                "protocol": "file",
                "billed_carrier_id": cls.carrier.id,
            }
        )
        cls.business = cls.env["res.partner"].create({"name": "ACME Corp", "is_company": True})
        cls.person = cls.env["res.partner"].create({"name": "Jane Doe"})
        cls.manager = new_test_user(
            cls.env, "freight_manager", groups=f"base.group_user,{GROUP_MANAGER}"
        )
        cls.user = new_test_user(cls.env, "freight_user", groups=f"base.group_user,{GROUP_USER}")
        cls._serial = 0

    @classmethod
    def shipment(cls, packages, partner=None, currency=None, **values):
        """A shipment with one package per (tracking number, rate, weight kg[, service])."""
        cls._serial += 1
        shipment = cls.env["logistics.shipment"].create(
            {
                "partner_id": (partner or cls.person).id,
                "carrier_backend_id": cls.carrier.id,
                **values,
            }
        )
        cls.env["logistics.package"].create(
            [
                {
                    "shipment_id": shipment.id,
                    "name": f"PKG-{cls._serial}-{index}",
                    "tracking_number": spec[0],
                    "rate_amount": spec[1],
                    "rate_currency_id": (currency or cls.usd).id,
                    "weight": spec[2],
                    "weight_unit": "kg",
                    "carrier_name": "USPS",
                    "carrier_service": spec[3] if len(spec) > 3 else "Priority",
                }
                for index, spec in enumerate(packages)
            ]
        )
        return shipment

    def import_invoices(self, *documents, backend=None):
        """Store the documents as the billing backend's messages, apply them, audit them:
        (the invoices, the duplicates' numbers)."""
        backend = backend or self.billing
        stored, duplicates = backend._store_carrier_invoices(list(documents), {}, "test")
        if stored:
            backend._process_inbound(stored)
        invoices = self.env["logistics.carrier.invoice"].search([("message_id", "in", stored.ids)])
        self.env["logistics.carrier.invoice.line"]._audit(invoices)
        return invoices, duplicates

    def exceptions(self, code, **domain):
        return self.env["logistics.exception"].search(
            [("type_code", "=", code), *[(k, "=", v) for k, v in domain.items()]]
        )


def moment(text):
    return datetime.fromisoformat(text)


def day(text):
    return date.fromisoformat(text)
