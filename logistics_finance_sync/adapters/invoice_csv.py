"""Carrier invoices and COD remittances as CSV files: the format of the backend's drop directory
and of the upload wizard, for carriers that send a spreadsheet rather than an API or EDI.

Invoice file: one row per charge, the header row first (columns in any order)::

    invoice_number,invoice_date,currency,invoice_total,carrier,tracking_number,shipment_ref,
    charge_code,amount,billed_weight,weight_unit,description,service,credit_of

- Required columns: invoice_number, invoice_date, currency, invoice_total, charge_code, amount,
  and tracking_number or shipment_ref (a row needs one of the two filled in). The others may be
  left out; a column that is not in the list is refused (a misspelt ``ammount`` would otherwise
  be a charge read as missing).
- Rows of one invoice_number form one invoice, in the order of the file (its rows need not be
  next to each other). The header columns of an invoice (invoice_date, currency,
  invoice_total, carrier, credit_of) must say the same on each of its rows.
- Amounts are decimal text with at most 2 decimals ("7.50", "-3.20" for a credit), dates ISO
  ("2026-11-30"), currency an ISO 4217 code ("USD"), charge_code one of
  canonical.CHARGE_CODES, weight_unit one of canonical.WEIGHT_UNITS (required with
  billed_weight). credit_of, on a credit note, is the number of the invoice it credits.
- The charges of an invoice must add up to its invoice_total.

COD remittance file: one row per shipment paid out, same rules::

    remittance_number,remittance_date,currency,remittance_total,tracking_number,shipment_ref,
    collected,deduction,remitted,collected_at

(collected_at, an ISO date, may be left out; the remitted amounts add up to remittance_total).

A blank row is skipped. Any other row that can't be read raises ValueError naming its line
(line 1 is the header); nothing is skipped or rounded.
"""

import csv
import io

from . import canonical

INVOICE_COLUMNS = (
    "invoice_number",
    "invoice_date",
    "currency",
    "invoice_total",
    "carrier",
    "tracking_number",
    "shipment_ref",
    "charge_code",
    "amount",
    "billed_weight",
    "weight_unit",
    "description",
    "service",
    "credit_of",
)
INVOICE_REQUIRED_COLUMNS = (
    "invoice_number",
    "invoice_date",
    "currency",
    "invoice_total",
    "charge_code",
    "amount",
)
REMITTANCE_COLUMNS = (
    "remittance_number",
    "remittance_date",
    "currency",
    "remittance_total",
    "tracking_number",
    "shipment_ref",
    "collected",
    "deduction",
    "remitted",
    "collected_at",
)
REMITTANCE_REQUIRED_COLUMNS = (
    "remittance_number",
    "remittance_date",
    "currency",
    "remittance_total",
    "collected",
    "deduction",
    "remitted",
)
# A row must name its shipment: at least one of these columns must be in the file.
SHIPMENT_COLUMNS = ("tracking_number", "shipment_ref")


def invoice_csv_template():
    """The header line of an invoice file, every column in the documented order, ending with a
    newline: a valid (empty) invoice file to fill in."""
    return ",".join(INVOICE_COLUMNS) + "\n"


def invoices(text):
    """The canonical carrier invoices of an invoice file (see the module's docstring), in the
    order their numbers first appear.

    :param text: the file's content, str or UTF-8 bytes (a byte order mark is allowed)
    :return: list of canonical invoices (canonical.invoice)
    Raises ValueError naming the line (and column) of the first problem; a file without any
    charge row is refused too.
    """
    groups = _grouped_rows(
        text,
        INVOICE_COLUMNS,
        INVOICE_REQUIRED_COLUMNS,
        key="invoice_number",
        header=("invoice_date", "currency", "invoice_total", "carrier", "credit_of"),
        what="invoice",
    )
    result = []
    for number, (first, rows) in groups.items():
        lines = [_invoice_line(line_number, row) for line_number, row in rows]
        head = rows[0][1]
        result.append(
            canonical.invoice(
                f"invoice {number} (from line {first})",
                number=number,
                invoice_date=canonical.iso_date(
                    head["invoice_date"], f"line {first}", "invoice_date"
                ),
                currency_code=canonical.currency(head["currency"], f"line {first}"),
                total=canonical.money(head["invoice_total"], f"line {first}", "invoice_total"),
                carrier=head.get("carrier"),
                credit_of=head.get("credit_of"),
                lines=lines,
            )
        )
    return result


def remittances(text):
    """The canonical COD remittances of a remittance file (see the module's docstring), in the
    order their numbers first appear.

    :param text: the file's content, str or UTF-8 bytes
    :return: list of canonical remittances (canonical.remittance)
    Raises ValueError naming the line (and column) of the first problem.
    """
    groups = _grouped_rows(
        text,
        REMITTANCE_COLUMNS,
        REMITTANCE_REQUIRED_COLUMNS,
        key="remittance_number",
        header=("remittance_date", "currency", "remittance_total"),
        what="remittance",
    )
    result = []
    for number, (first, rows) in groups.items():
        head = rows[0][1]
        result.append(
            canonical.remittance(
                f"remittance {number} (from line {first})",
                number=number,
                remittance_date=canonical.iso_date(
                    head["remittance_date"], f"line {first}", "remittance_date"
                ),
                currency_code=canonical.currency(head["currency"], f"line {first}"),
                total=canonical.money(
                    head["remittance_total"], f"line {first}", "remittance_total"
                ),
                lines=[_remittance_line(line_number, row) for line_number, row in rows],
            )
        )
    return result


def _invoice_line(line_number, row):
    where = f"line {line_number}"
    billed_weight = row.get("billed_weight")
    return canonical.invoice_line(
        where,
        tracking_number=row.get("tracking_number"),
        shipment_ref=row.get("shipment_ref"),
        charge_code=row["charge_code"],
        amount=canonical.money(row["amount"], where),
        billed_weight=canonical.weight(billed_weight, where) if billed_weight else None,
        weight_unit=row.get("weight_unit"),
        description=row.get("description"),
        service=row.get("service"),
    )


def _remittance_line(line_number, row):
    where = f"line {line_number}"
    collected_at = row.get("collected_at")
    return canonical.remittance_line(
        where,
        tracking_number=row.get("tracking_number"),
        shipment_ref=row.get("shipment_ref"),
        collected=canonical.money(row["collected"], where, "collected"),
        deduction=canonical.money(row["deduction"], where, "deduction"),
        remitted=canonical.money(row["remitted"], where, "remitted"),
        collected_at=canonical.iso_date(collected_at, where, "collected_at")
        if collected_at
        else None,
    )


def _grouped_rows(text, columns, required, key, header, what):
    """{number: (first line number, [(line number, row dict)])} in file order, each row's
    cells stripped, after checking that the rows of one number agree on the ``header``
    columns (compared as written, so "7.5" and "7.50" differ: a carrier writes its totals one
    way)."""
    groups = {}
    for line_number, row in _rows(text, columns, required):
        number = canonical.required_text(row[key], f"line {line_number}", key)
        if number not in groups:
            groups[number] = (line_number, [])
        first, rows = groups[number]
        if rows:
            head = rows[0][1]
            for column in header:
                if column in row and row[column] != head[column]:
                    raise ValueError(
                        f"line {line_number}: {column} {row[column]!r} of {what} {number} "
                        f"differs from {head[column]!r} on line {first}"
                    )
        rows.append((line_number, row))
    if not groups:
        raise ValueError(f"line 2: no {what} row after the header")
    return groups


def _rows(text, columns, required):
    """(line number, {column: stripped cell}) of each row that is not blank, after checking
    the header (line 1) against ``columns`` and ``required``."""
    reader = csv.reader(io.StringIO(canonical.file_text(text), newline=""))
    fields = next(reader, None)
    if not fields or not any(cell.strip() for cell in fields):
        raise ValueError(f"line 1: no header (expected the columns {','.join(columns)})")
    fields = [cell.strip() for cell in fields]
    unknown = [name for name in fields if name not in columns]
    if unknown:
        raise ValueError(
            f"line 1: unknown column(s) {', '.join(repr(name) for name in unknown)} "
            f"(the columns are {','.join(columns)})"
        )
    repeated = sorted({name for name in fields if fields.count(name) > 1})
    if repeated:
        raise ValueError(f"line 1: column(s) {', '.join(repeated)} given twice")
    missing = [name for name in required if name not in fields]
    if missing:
        raise ValueError(f"line 1: missing column(s) {', '.join(missing)}")
    if not set(SHIPMENT_COLUMNS) & set(fields):
        raise ValueError(f"line 1: missing column {' or '.join(SHIPMENT_COLUMNS)}")
    end = reader.line_num
    for cells in reader:
        # A row may span lines (a quoted newline): it is named by the line it starts on.
        line_number, end = end + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(fields):
            raise ValueError(
                f"line {line_number}: {len(cells)} cells, the header has {len(fields)} columns"
            )
        yield line_number, {name: cell.strip() for name, cell in zip(fields, cells, strict=True)}
