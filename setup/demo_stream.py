"""The live demo of `setup/run`: wires the demo backends to the partner sandboxes, then places
a new sale order every few seconds, shipped with the demo shipping method backed by the carrier
sandbox (its rate asked with *Add shipping*, as a salesperson does), which flows through the WMS
and carrier sandboxes (release, pick, pack, label, tracking, delivery) so a user sees shipments
move.

It talks to Odoo over JSON-RPC, like any external system.
"""

import argparse
import json
import random
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone


class Odoo:
    def __init__(self, url, database, login="admin", password="admin"):
        self.url, self.database, self.password = url, database, password
        self.uid = None
        self.login = login

    def rpc(self, service, method, *args):
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "call",
                "params": {"service": service, "method": method, "args": args},
            }
        ).encode()
        request = urllib.request.Request(
            f"{self.url}/jsonrpc", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            raise RuntimeError(answer["error"].get("data", {}).get("message") or answer["error"])
        return answer.get("result")

    def call(self, model, method, *args, **kwargs):
        if self.uid is None:
            self.uid = self.rpc("common", "login", self.database, self.login, self.password)
        return self.rpc(
            "object",
            "execute_kw",
            self.database,
            self.uid,
            self.password,
            model,
            method,
            list(args),
            kwargs,
        )

    def wait_until_up(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/web/login", timeout=5):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(1)
        raise SystemExit(f"demo stream: Odoo did not answer on {self.url} in {timeout} s")


def wire_backends(odoo, args):
    """Point the demo backends at the sandboxes' actual URLs, with the sandboxes' API keys in
    the same write: a backend's new base URL clears the key stored for the old one."""
    for code, url, api_key in (
        ("sandbox_wms", args.wms_url, args.wms_api_key),
        ("sandbox_carrier", args.carrier_url, args.carrier_api_key),
        ("sandbox_carrier_alt", args.carrier_url, args.carrier_api_key),
        ("sandbox_channel", args.channel_url, args.channel_api_key),
        ("sandbox_carrier_billing", args.finance_url, args.finance_api_key),
        ("sandbox_finance", args.finance_url, args.finance_api_key),
    ):
        ids = odoo.call("logistics.backend", "search", [("code", "=", code)])
        if ids and url:
            odoo.call("logistics.backend", "write", ids, {"base_url": url, "api_key": api_key})


def postpone_procurement_scheduler(odoo):
    """Move Odoo's daily procurement scheduler (stock) to tomorrow. A new database runs it at
    once, while the stream restocks its products: both update the same reordering rules, and
    the scheduler's transaction fails with a serialization error (Odoo retries it the next
    day, with a traceback in the log). The write waits for a scheduler already running."""
    cron = odoo.call(
        "ir.model.data",
        "search_read",
        [("module", "=", "stock"), ("name", "=", "ir_cron_scheduler_action")],
        ["res_id"],
    )
    if cron:
        tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
        odoo.call(
            "ir.cron",
            "write",
            [cron[0]["res_id"]],
            {"nextcall": tomorrow.strftime("%Y-%m-%d %H:%M:%S")},
        )


def demo_catalogue(odoo, count=4):
    """A few storable products with a SKU, kept in stock in the main warehouse."""
    products = odoo.call(
        "product.product",
        "search_read",
        [("is_storable", "=", True), ("default_code", "!=", False), ("sale_ok", "=", True)],
        ["display_name"],
        limit=count,
        order="id",
    )
    if not products:
        raise SystemExit("demo stream: no storable product with an internal reference to sell")
    return products


def restock(odoo, product_ids, location_id, quantity=50):
    for product_id in product_ids:
        quant = odoo.call(
            "stock.quant",
            "create",
            {"product_id": product_id, "location_id": location_id, "inventory_quantity": quantity},
        )
        odoo.call("stock.quant", "action_apply_inventory", [quant])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--odoo-url", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--wms-url", required=True)
    parser.add_argument("--carrier-url", required=True)
    parser.add_argument("--channel-url")
    parser.add_argument("--wms-api-key", required=True)
    parser.add_argument("--carrier-api-key", required=True)
    parser.add_argument("--channel-api-key")
    parser.add_argument("--finance-url", help="the finance sandbox (carrier billing, export)")
    parser.add_argument("--finance-api-key")
    parser.add_argument("--every", type=float, default=8.0, help="seconds between new orders")
    parser.add_argument("--orders", type=int, default=0, help="stop after this many (0: never)")
    args = parser.parse_args()

    odoo = Odoo(args.odoo_url, args.database)
    odoo.wait_until_up(600)
    wire_backends(odoo, args)
    postpone_procurement_scheduler(odoo)
    products = demo_catalogue(odoo)
    warehouse = odoo.call(
        "stock.warehouse", "search_read", [], ["lot_stock_id"], limit=1, order="id"
    )
    location_id = warehouse[0]["lot_stock_id"][0]
    customers = odoo.call(
        "res.partner",
        "search",
        [("email", "!=", False), ("is_company", "=", False), ("street", "!=", False)],
        limit=20,
    )
    shipping_method = demo_shipping_method(odoo)
    rng = random.Random(19)
    placed = 0
    print(f"demo stream: a new order every {args.every:g} s on {args.odoo_url}", flush=True)
    while not args.orders or placed < args.orders:
        try:
            name = place_order(odoo, rng, products, customers, location_id, shipping_method)
        except (RuntimeError, OSError) as error:
            # Odoo restarting or busy: the stream goes on with the next order.
            print(f"demo stream: order not placed: {error}", flush=True)
            time.sleep(args.every)
            continue
        placed += 1
        print(f"demo stream: order {name} confirmed ({placed})", flush=True)
        time.sleep(args.every)


def demo_shipping_method(odoo):
    """The id of the demo shipping method backed by the sandbox carrier (the carrier
    connector's demo data), or None when the database has none."""
    ids = odoo.call(
        "delivery.carrier",
        "search",
        [
            ("delivery_type", "=", "logistics"),
            ("logistics_backend_id.code", "=", "sandbox_carrier"),
        ],
        limit=1,
    )
    return ids[0] if ids else None


def add_shipping(odoo, sale, carrier_id):
    """The shipping method on the quotation the way a salesperson puts it with *Add shipping*
    (Odoo's wizard choose.delivery.carrier): get the rate, then add the delivery line; the
    order's transfers get the method as their carrier when it is confirmed."""
    wizard = odoo.call(
        "choose.delivery.carrier", "create", {"order_id": sale, "carrier_id": carrier_id}
    )
    odoo.call("choose.delivery.carrier", "update_price", [wizard])
    odoo.call("choose.delivery.carrier", "button_confirm", [wizard])


def place_order(odoo, rng, products, customers, location_id, shipping_method=None):
    """A new sale order of one or two products for a demo customer, with the demo shipping
    method when it gives a rate (a carrier sandbox that is down gives none: the order goes
    without, as a salesperson would send it), confirmed; its name."""
    lines = rng.sample(products, k=rng.randint(1, min(2, len(products))))
    restock(odoo, [p["id"] for p in lines], location_id)
    sale = odoo.call(
        "sale.order",
        "create",
        {
            "partner_id": rng.choice(customers),
            "order_line": [
                (0, 0, {"product_id": p["id"], "product_uom_qty": rng.randint(1, 3)}) for p in lines
            ],
        },
    )
    if shipping_method:
        try:
            add_shipping(odoo, sale, shipping_method)
        except RuntimeError as error:
            print(f"demo stream: no shipping rate for the order: {error}", flush=True)
    odoo.call("sale.order", "action_confirm", [sale])
    return odoo.call("sale.order", "read", [sale], ["name"])[0]["name"]


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
