"""The WMS / 3PL file-drop protocol, for partners without an API: order files out, confirmation
files in, same documents as the REST protocol (see wms_rest).

Files are written under a temporary name and renamed, so the partner never reads half a file.
"""

import csv
import io
import math
import os
from pathlib import Path

from . import wms_rest

ORDER_COLUMNS = ["order_ref", "shipment_ref", "line_id", "sku", "quantity"]
# The units of an order line (see wms_rest): after the required columns.
ORDER_UNIT_COLUMNS = ["uom", "quantity_base", "base_uom"]
CONFIRMATION_COLUMNS = [
    "event_id",
    "event",
    "order_ref",
    "shipment_ref",
    "occurred_at",
    "line_id",
    "sku",
    "quantity_ordered",
    "quantity_done",
]
# Columns a confirmation file may have: the unit of the row's quantities, and the lot or serial
# number the row shipped (one row per lot; rows of one line_id add up).
OPTIONAL_CONFIRMATION_COLUMNS = ["uom", "lot"]
STOCK_COLUMNS = ["sku", "quantity"]
# The stock files the WMS drops in inbound/, beside its confirmation files.
STOCK_FILES = "stock-*.csv"


def order_csv(release):
    """The CSV text of one order release (a wms_rest.release_request document)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, ORDER_COLUMNS + ORDER_UNIT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for line in release["lines"]:
        writer.writerow(
            {
                "order_ref": release["order_ref"],
                "shipment_ref": release["shipment_ref"],
                **{key: line.get(key, "") for key in ORDER_COLUMNS[2:] + ORDER_UNIT_COLUMNS},
            }
        )
    return out.getvalue()


def write_atomically(directory, name, text):
    """Write ``text`` as ``directory/name`` through a temporary file and a rename."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{name}.tmp"
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, directory / name)
    return directory / name


def confirmations(text):
    """Callback documents (as the REST protocol sends them) from a confirmation file: rows of
    one event_id form one document. Raises ValueError on a malformed file."""
    reader = csv.DictReader(io.StringIO(text))
    missing = set(CONFIRMATION_COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"confirmation file without column(s): {', '.join(sorted(missing))}")
    documents = {}
    for row in reader:
        document = documents.setdefault(
            row["event_id"],
            {
                "event_id": row["event_id"],
                "event": row["event"],
                "order_ref": row["order_ref"],
                "shipment_ref": row["shipment_ref"],
                "occurred_at": row["occurred_at"],
                "lines": [],
            },
        )
        if row["line_id"] or row["sku"]:
            line = {
                "line_id": row["line_id"],
                "sku": row["sku"],
                "quantity_ordered": wms_rest.quantity(row, "quantity_ordered"),
                "quantity_done": wms_rest.quantity(row, "quantity_done"),
            }
            if row.get("uom"):
                line["uom"] = row["uom"]
            if row.get("lot"):
                line["lots"] = [{"lot": row["lot"], "quantity": line["quantity_done"]}]
            document["lines"].append(line)
    return list(documents.values())


def stock_snapshot(text):
    """A stock snapshot document, as the REST protocol's ``GET /api/stock`` answers it
    (``{"items": [{"sku", "quantity"}]}``, see wms_rest.stock_items), from a stock file:
    columns sku, quantity, one row per item.

    A quantity cell is the number it reads as (``float``) when finite, else its text as it is,
    and an empty cell is no quantity: wms_rest.stock_levels names what is wrong with them.
    Raises ValueError when the file is not a stock file (a column missing).
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = set(STOCK_COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"stock file without column(s): {', '.join(sorted(missing))}")
    items = []
    for row in reader:
        item = {"sku": row["sku"]}
        cell = (row["quantity"] or "").strip()
        if cell:
            item["quantity"] = _number_or_text(cell)
        items.append(item)
    return {"items": items}


def _number_or_text(cell):
    try:
        number = float(cell)
    except ValueError:
        return cell
    return number if math.isfinite(number) else cell
