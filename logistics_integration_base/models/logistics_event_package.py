from odoo import api, models
from odoo.tools import SQL

from .logistics_event import json_recordset
from .logistics_event_type import (
    MAIN_PROGRESSION_TOP,
    STATUS_FINAL_SQL,
    STATUS_GUARD_SQL,
    ShipmentStatus,
    moves_status,
)


class LogisticsEvent(models.Model):
    """Events about one package of a shipment (a carrier's tracking update by the package's
    tracking number): the package's own status, and the shipment's status over its packages.

    The rule, over the packages (DESIGN §2, "Status rule", and §5b):

    - each package's status moves by the status rule (``moves_status``);
    - on the main progression (ranks 1 to ``MAIN_PROGRESSION_TOP``), the shipment follows its
      slowest package: an event of a package moves the shipment only when no package is
      behind it, and the shipment moves to the slowest package's status when the others have
      gone past it (a shipment is delivered when all its packages are);
    - a side branch (exception, ...) or a return of any package moves the shipment at once, and
      a package's exception holds the shipment until that package moves on: another package's
      routine scan doesn't end it.

    An event that moves a package but not the shipment is applied (to its package); an
    event older than its package's status arrived late. With one package, the shipment's own
    rule decides, as without packages."""

    _inherit = "logistics.event"

    @api.model
    def _add_package_statuses(self, found, package_ids):
        """Complete each match by packages' tracking numbers with what ``_decide_package_event``
        reads, in one query: ``packages`` (every package of the shipment: ``{package id:
        {"status": ShipmentStatus, "type_id", "code", "event_ref"}}``) and ``side_package`` (the
        package whose side-branch event is the shipment's status, else None)."""
        self.env["logistics.package"].flush_model(
            ["status_rank", "status_at", "status_id", "status_event_ref", "shipment_id"]
        )
        self.env["logistics.shipment"].flush_model(["status_id", "status_event_ref"])
        # One query: every package of the matched shipments, with the package whose side
        # branch is its shipment's status (an exception of that package, say) on each row.
        self.env.cr.execute(
            SQL(
                """
                SELECT s.id, s.shipment_id, s.status_rank, s.status_at, %(final)s, s.status_id,
                       t.code, s.status_event_ref, side.package_id
                  FROM logistics_package s
                  LEFT JOIN logistics_event_type t ON t.id = s.status_id
                  JOIN logistics_shipment sh ON sh.id = s.shipment_id
                  LEFT JOIN logistics_event_type st
                         ON st.id = sh.status_id AND st.rank = 0 AND NOT st.is_final
                  LEFT JOIN logistics_event side
                         ON side.id = sh.status_event_ref AND st.id IS NOT NULL
                 WHERE s.active AND s.shipment_id IN (
                       SELECT shipment_id FROM logistics_package WHERE id = ANY(%(ids)s))
                """,
                final=STATUS_FINAL_SQL,
                ids=list(package_ids),
            )
        )
        packages, side = {}, {}
        for row in self.env.cr.fetchall():
            package_id, shipment_id, rank, status_at, final, type_id, code, event_ref, held = row
            packages.setdefault(shipment_id, {})[package_id] = {
                "status": ShipmentStatus(rank, status_at, final),
                "type_id": type_id,
                "code": code,
                "event_ref": event_ref,
                "event_key": None,
            }
            side[shipment_id] = held
        for matches in found.values():
            for match in matches:
                if match["package_ids"]:
                    match["packages"] = packages.get(match["id"], {})
                    match["side_package"] = side.get(match["id"])

    @api.model
    def _decide_package_event(self, event, status, batch):
        """What a status-setting event that came by packages' tracking numbers does (see the
        class docstring).

        :param dict event: the normalised event; ``event["shipment"]`` its match
        :param status: the shipment's ``ShipmentStatus`` before the event
        :param dict batch: shipment id -> its packages and side package after the batch's
            events so far (filled here)
        :return: ``(state, package)``: the event's state, and ``package`` with ``moves``
            (``{package id: rank}`` of the packages it moved), ``held`` (it moved packages,
            not the shipment), ``proxy`` (the slowest package's status the shipment moves to
            instead, or None) and ``status`` (the shipment's new ``ShipmentStatus``, or None)
        """
        event_type, shipment = event["type"], event["shipment"]
        result = {"moves": {}, "held": False, "proxy": None, "status": None}
        known = batch.setdefault(
            shipment["id"],
            {
                "packages": {pid: dict(p) for pid, p in shipment["packages"].items()},
                "side_package": shipment["side_package"],
            },
        )
        packages, rank, at = known["packages"], event_type.rank, event["occurred_at"]
        for package_id in shipment["package_ids"]:
            package = packages.get(package_id)
            if package is None or not moves_status(rank, at, package["status"]):
                continue
            package.update(
                status=ShipmentStatus(max(package["status"].rank, rank), at, event_type.is_final),
                type_id=event_type.id,
                code=event_type.code,
                event_ref=None,
                event_key=event["event_id"],
            )
            result["moves"][package_id] = package["status"].rank
        if not result["moves"]:
            return "arrived_late", result
        main = 0 < rank <= MAIN_PROGRESSION_TOP
        side_package = known["side_package"]
        ends_side = main and side_package in shipment["package_ids"]
        slowest_id = min(packages, key=lambda pid: (packages[pid]["status"].rank, pid))
        slowest = packages[slowest_id]
        behind = slowest["status"]
        if main and side_package and not ends_side:
            result["held"] = True  # another package's exception holds the shipment
        elif main and behind.rank < rank:
            result["held"] = True  # a package is behind: the shipment waits for it
            if slowest_id not in result["moves"] and (
                ends_side
                or (behind.rank > status.rank and moves_status(behind.rank, behind.at, status))
            ):
                # The others went past the slowest package (or the package in exception
                # moved on): the shipment moves to the slowest package's status, as of now.
                moment = max(behind.at, at) if behind.at else at
                result["proxy"] = {
                    "type_id": slowest["type_id"],
                    "code": slowest["code"],
                    "occurred_at": moment,
                    "rank": behind.rank,
                    "event_ref": slowest["event_ref"],
                    "event_key": slowest["event_key"],
                }
                result["status"] = ShipmentStatus(max(status.rank, behind.rank), moment, False)
                known["side_package"] = None
        elif moves_status(rank, at, status):
            result["status"] = ShipmentStatus(max(status.rank, rank), at, event_type.is_final)
            known["side_package"] = (
                shipment["package_ids"][0] if rank == 0 and not event_type.is_final else None
            )
        elif len(packages) == 1:
            return "arrived_late", result  # one parcel: the shipment's rule decides
        else:
            result["held"] = True  # the package moved; the shipment had gone past it
        return "applied", result

    def _apply_package_status(self, rows, inserted):
        """Move each package to the last event of this batch that moved it (``_decide``), with
        the status rule again in the WHERE clause (``STATUS_GUARD_SQL``, on the package)."""
        latest = {}
        for row in rows:
            event_id = inserted.get(row["event"]["event_id"])
            if not event_id:
                continue
            for package_id, rank_reached in row["package_moves"].items():
                latest[package_id] = {
                    "package_id": package_id,
                    "type_id": row["type_id"],
                    "event_id": event_id,
                    "occurred_at": row["event"]["occurred_at"].isoformat(),
                    "rank": row["event"]["type"].rank,
                    "rank_reached": rank_reached,
                }
        if not latest:
            return
        self.env.cr.execute(
            SQL(
                """
                UPDATE logistics_package s
                   SET status_id = v.type_id, status_at = v.occurred_at,
                       status_event_ref = v.event_id,
                       status_rank = GREATEST(s.status_rank, v.rank_reached),
                       write_uid = %(uid)s, write_date = now() AT TIME ZONE 'UTC'
                  FROM %(values)s
                 WHERE s.id = v.package_id AND %(guard)s
                """,
                uid=self.env.uid,
                guard=STATUS_GUARD_SQL,
                values=json_recordset(
                    "package_id int, type_id int, event_id int, occurred_at timestamp,"
                    " rank int, rank_reached int",
                    list(latest.values()),
                ),
            )
        )
        self.env["logistics.package"].invalidate_model(
            ["status_id", "status_code", "status_at", "status_rank", "status_event_ref"]
        )
