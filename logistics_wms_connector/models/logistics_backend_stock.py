from collections import Counter

from odoo import api, models
from odoo.exceptions import UserError

from odoo.addons.logistics_integration_base.models.logistics_access import check_manager

from ..adapters import wms_csv, wms_rest

# Items listed in an exception's name; its description lists them all.
NAMED_ITEMS = 5


class LogisticsBackend(models.Model):
    """Stock snapshots: the WMS's quantities compared with Odoo's, whatever the adapter brings
    them (the answer of ``GET /api/stock``, a stock file dropped by the WMS). The WMS owns
    quantities: a difference, or an item that can't be compared, is raised for a person;
    nothing is overwritten."""

    _inherit = "logistics.backend"

    # --- asking for a snapshot (dispatched to the adapter) -------------------------------------
    def action_sync_stock(self):
        """Ask these WMS backends for a stock snapshot, each through its adapter
        (``_request_stock_snapshot_<adapter>``); differences with Odoo become stock_mismatch
        exceptions, items that can't be compared one stock_snapshot_invalid exception per
        snapshot.

        :return: a notification action saying what was asked of each backend
        :raises AccessError: not a Logistics Manager (the call sends the WMS's credentials)
        :raises UserError: a backend whose adapter can't provide stock snapshots, named;
            nothing is asked then
        """
        check_manager(self.env, self.env._("ask a WMS for its stock"))
        unable = self.filtered(lambda backend: not backend._provides_stock_snapshots())
        if unable:
            adapters = dict(self._fields["adapter"]._description_selection(self.env))
            raise UserError(
                self.env._(
                    "%(backends)s can't provide stock snapshots: no way to ask the WMS for one "
                    "with the adapter %(adapter)s. Compare the stock by hand, or connect the "
                    "WMS with an adapter that provides them (%(providers)s).",
                    backends=", ".join(unable.mapped("name")),
                    adapter=", ".join(
                        sorted({adapters.get(a, a) for a in unable.mapped("adapter")})
                    ),
                    providers=", ".join(
                        label
                        for adapter, label in adapters.items()
                        if hasattr(self, f"_request_stock_snapshot_{adapter}")
                    ),
                )
            )
        said = [backend._request_stock_snapshot() for backend in self]
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": self.env._("Stock snapshots"), "message": "\n".join(said)},
        }

    @api.model
    def _cron_sync_wms_stock(self):
        """Ask every WMS backend that provides stock snapshots (and is not paused) for one.

        :return: the number of backends asked"""
        backends = self.search([("kind", "=", "wms"), ("paused", "=", False)]).filtered(
            lambda backend: backend._provides_stock_snapshots()
        )
        for backend in backends:
            backend._request_stock_snapshot()
        return len(backends)

    def _provides_stock_snapshots(self):
        """Whether the backend's adapter can provide stock snapshots: it has a
        ``_request_stock_snapshot_<adapter>`` method."""
        self.ensure_one()
        return hasattr(self, f"_request_stock_snapshot_{self.adapter}")

    def _request_stock_snapshot(self):
        """Ask the WMS for a stock snapshot, by the adapter; returns what was done, for a
        person (str)."""
        self.ensure_one()
        return getattr(self, f"_request_stock_snapshot_{self.adapter}")()

    def _request_stock_snapshot_wms_rest(self):
        """``GET /api/stock`` as an outbound message (flow stock_snapshot); its answer is
        compared when delivered (``logistics.message._on_delivered_stock_snapshot``)."""
        message = (
            self.env["logistics.message"]
            .sudo()
            ._create_outbound(
                self, "stock_snapshot", None, endpoint=wms_rest.STOCK_PATH, http_method="GET"
            )
        )
        return self.env._(
            "%(backend)s: stock snapshot asked for (message %(message)s); differences will "
            "show as exceptions.",
            backend=self.name,
            message=message.name,
        )

    def _request_stock_snapshot_wms_csv(self):
        """A file-drop WMS drops its stock files (``wms_csv.STOCK_FILES``) in inbound/ on its
        own schedule, read by the file-import cron every minute: read the ones waiting now."""
        if not self.wms_drop_dir:
            return self.env._(
                "%(backend)s: no drop directory is set, so no stock file can be read.",
                backend=self.name,
            )
        names = self._import_wms_files(wms_csv.STOCK_FILES)
        if not names:
            return self.env._(
                "%(backend)s: no stock file waiting in %(folder)s; the WMS drops them there "
                "(%(pattern)s) and they are compared as they come.",
                backend=self.name,
                folder=self._drop_path("inbound"),
                pattern=wms_csv.STOCK_FILES,
            )
        return self.env._(
            "%(backend)s: %(files)s read; differences will show as exceptions.",
            backend=self.name,
            files=", ".join(names),
        )

    # --- a stock file, processed as an inbound message ----------------------------------------
    def _import_wms_stock_file(self, path):
        """A stock file of the WMS (``wms_csv.stock_snapshot``) as one inbound stock_snapshot
        message, compared like the answer of a REST snapshot when processed. A file that is no
        stock file (not UTF-8, a column missing) makes its message dead at once, with a
        schema_invalid exception; its text stays in the message.

        :return: the message's id, or None when the file was imported before"""
        self.ensure_one()
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
            document, problem = wms_csv.stock_snapshot(text), None
        except ValueError as error:  # UnicodeDecodeError included
            text = raw.decode("utf-8", "replace")
            document, problem = None, f"{path.name}: {error}"
        message, job_pending = self._store_wms_file(path, "stock_snapshot", document, text)
        if not message:
            return None
        if problem:
            self._stock_snapshot_not_understood(message, problem)
        else:
            self._enqueue_inbound_processing(message, job_pending=job_pending)
        return message.id

    def _apply_inbound(self, messages):
        """Stock snapshot messages are compared with Odoo's stock, not ingested as events: done,
        or dead when their payload is no snapshot (an edited replay)."""
        snapshots = messages.filtered(lambda message: message.operation == "stock_snapshot")
        others = messages - snapshots
        counts = super()._apply_inbound(others) if others else Counter()
        for message in snapshots:
            try:
                items = wms_rest.stock_items(message.payload)
            except ValueError as error:
                self._stock_snapshot_not_understood(message, error)
                continue
            self._compare_stock_snapshot(items, message)
            message._set_state("done")
        return counts

    def _stock_snapshot_not_understood(self, message, error):
        """An inbound stock snapshot that is no snapshot: dead (class business), with a
        schema_invalid exception."""
        error = f"not a stock snapshot: {error}"
        message._set_state("dead", error_class="business", error=error)
        message._raise_schema_invalid(
            f"{self.code}: stock snapshot not understood ({error})",
            self.env._(
                "The WMS sent a stock snapshot that is not one: %(error)s\n\n%(body)s",
                error=error,
                body=message.request_body or "",
            ),
        )

    # --- comparing ------------------------------------------------------------------------------
    def _compare_stock_snapshot(self, items, message):
        """Compare the items of a snapshot (``wms_rest.stock_items``) with Odoo's stock: one
        stock_snapshot_invalid exception names the items that can't be compared and why
        (``wms_rest.stock_levels``); the others are compared (``_compare_stock``).

        :return: the number of stock_mismatch exceptions raised"""
        self.ensure_one()
        levels, problems = wms_rest.stock_levels(items)
        if problems:
            self._raise_stock_snapshot_invalid(problems, message)
        return self._compare_stock(levels, message)

    def _raise_stock_snapshot_invalid(self, problems, message):
        """One stock_snapshot_invalid exception for ``message``, listing each item of
        ``problems`` ([(item, reason)], ``wms_rest.stock_levels``) with its reason."""
        named = ", ".join(item for item, _reason in problems[:NAMED_ITEMS])
        values = {
            "name": self.env._(
                "%(backend)s: %(count)s stock item(s) not compared: %(items)s",
                backend=self.name,
                count=len(problems),
                items=named + (" …" if len(problems) > NAMED_ITEMS else ""),
            ),
            "backend_id": self.id,
            "message_id": message.id,
            "source_event_id": message.partner_event_id,
            "description": self.env._(
                "These items of the stock snapshot can't be compared with Odoo's stock; the "
                "other items were compared. The WMS owns quantities: ask it to correct these "
                "items and send a new snapshot; Odoo's quantities are not changed.\n\n%(items)s",
                items="\n".join(f"- {item}: {reason}" for item, reason in problems),
            ),
            "company_id": self.company_id.id,
        }
        return self.env["logistics.exception"].sudo()._raise("stock_snapshot_invalid", [values])

    def _compare_stock(self, levels, message):
        """Raise one stock_mismatch per product whose WMS quantity differs from Odoo's in the
        backend's warehouses (nothing is overwritten).

        :param dict levels: {sku: quantity on hand at the WMS (float >= 0)}"""
        self.ensure_one()
        locations = self.wms_warehouse_ids.lot_stock_id
        if not locations:
            return 0
        products = self.env["product.product"].search([("default_code", "in", list(levels))])
        mismatches = 0
        for product in products:
            odoo_qty = sum(
                product.with_context(location=location.id).qty_available for location in locations
            )
            wms_qty = levels[product.default_code]
            if abs(odoo_qty - wms_qty) < 1e-6:
                continue
            mismatches += 1
            self.env["logistics.exception"].sudo()._raise_once(
                "stock_mismatch",
                {
                    "name": self.env._(
                        "%(sku)s: WMS %(wms)s, Odoo %(odoo)s",
                        sku=product.default_code,
                        wms=f"{wms_qty:g}",
                        odoo=f"{odoo_qty:g}",
                    ),
                    "backend_id": self.id,
                    "message_id": message.id,
                    "source_event_id": f"stock:{product.default_code}",
                    "description": self.env._(
                        "The WMS reports %(wms)s on hand for %(product)s, Odoo %(odoo)s in "
                        "%(locations)s. The WMS owns quantities: count the location and adjust "
                        "Odoo's inventory, or correct the WMS.",
                        wms=f"{wms_qty:g}",
                        product=product.display_name,
                        odoo=f"{odoo_qty:g}",
                        locations=", ".join(locations.mapped("complete_name")),
                    ),
                    "company_id": self.company_id.id,
                },
            )
        return mismatches
