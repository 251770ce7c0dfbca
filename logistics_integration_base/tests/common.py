import json
from datetime import timedelta

from odoo import Command, fields
from odoo.tests import TransactionCase, new_test_user

from odoo.addons.queue_job.job import Job

GROUP_USER = "logistics_integration_base.group_logistics_user"
GROUP_MANAGER = "logistics_integration_base.group_logistics_manager"
GROUP_AUDITOR = "logistics_integration_base.group_logistics_auditor"


def api_key(user, name="test script", hours=1):
    """A new API key of ``user`` (Odoo's ``res.users.apikeys``), valid for ``hours``."""
    return (
        user.with_user(user)
        .env["res.users.apikeys"]
        ._generate(None, name, fields.Datetime.now() + timedelta(hours=hours))
    )


def json2(case, key, model, method, params):
    """POST /json/2/<model>/<method> with ``params`` (the method's named arguments) and the
    bearer ``key``, as an external client does (Odoo 19's JSON-2 API), from an HttpCase."""
    return case.url_open(
        f"/json/2/{model}/{method}",
        data=json.dumps(params),
        headers={
            "Authorization": f"bearer {key}",
            "Content-Type": "application/json",
            "X-Odoo-Database": case.env.cr.dbname,
        },
    )


def run_pending_inbound_jobs(env):
    """Run the pending inbound processing jobs (batch and per message) as the job runner would,
    in this transaction; returns their ``queue.job`` records. Inbound processing only: the demo
    data has publication jobs of its own waiting."""
    jobs = env["queue.job"].search(
        [
            ("state", "=", "pending"),
            ("method_name", "in", ("_process_inbound_queue", "_process_inbound_job")),
        ]
    )
    for record in jobs:
        job = Job.load(env, record.uuid)
        job.set_started()
        job.perform()
        job.set_done()
        job.store()
    return jobs


class LogisticsCase(TransactionCase):
    """Backends, a confirmed sale order with its shipment, and users of each group."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.company
        # The demo data's subscribers (a sales channel) are no test's partners: without this,
        # jobs a test runs would also publish to them.
        cls.env["logistics.subscription"].search([]).unlink()
        Backend = cls.env["logistics.backend"]
        cls.wms = Backend.create({"name": "Test WMS", "code": "t_wms", "kind": "wms"})
        cls.carrier = Backend.create(
            {"name": "Test Carrier", "code": "t_carrier", "kind": "carrier"}
        )
        cls.customer = cls.env["res.partner"].create({"name": "Test Customer"})
        cls.product = cls.env["product.product"].create(
            {"name": "Test Widget", "type": "consu", "is_storable": True}
        )
        cls.sale = cls.create_sale_order()
        cls.shipment = cls.sale.picking_ids.logistics_shipment_ids
        cls.user = new_test_user(cls.env, "logistics_user", groups=f"base.group_user,{GROUP_USER}")
        cls.manager = new_test_user(
            cls.env, "logistics_manager", groups=f"base.group_user,{GROUP_MANAGER}"
        )
        cls.auditor = new_test_user(
            cls.env, "logistics_auditor", groups=f"base.group_user,{GROUP_AUDITOR}"
        )

    @classmethod
    def create_sale_order(cls, quantity=2, company=None):
        env = cls.env(
            context=dict(cls.env.context, allowed_company_ids=[(company or cls.company).id])
        )
        sale = env["sale.order"].create(
            {
                "partner_id": cls.customer.id,
                "company_id": (company or cls.company).id,
                "order_line": [
                    Command.create({"product_id": cls.product.id, "product_uom_qty": quantity})
                ],
            }
        )
        sale.action_confirm()
        return sale

    def event(self, event_type, occurred_at, event_id, **extra):
        values = {
            "type": event_type,
            "occurred_at": occurred_at,
            "event_id": event_id,
            "shipment_ref": self.shipment.name,
        }
        values.update(extra)
        return values

    def ingest(self, backend, events):
        return self.env["logistics.event"].ingest_events(backend.code, events)
