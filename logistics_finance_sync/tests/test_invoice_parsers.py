import copy
from pathlib import Path

from odoo.tests import BaseCase, tagged

from ..adapters import canonical, freight_billing, invoice_csv, x12_210

DATA = Path(__file__).parent / "data"

INVOICE_CSV = """\
invoice_number,invoice_date,currency,invoice_total,carrier,tracking_number,shipment_ref,\
charge_code,amount,billed_weight,weight_unit,description,service,credit_of
INV-7,2026-11-30,USD,12.70,USPS,9400100000000000000001,SHP/00012,base,7.50,3,kg,Priority Mail,\
Priority,
INV-8,2026-11-30,USD,-5.10,USPS,9400100000000000000001,,residential,-5.10,,,"Credit, \
residential",,INV-6
INV-7,2026-11-30,USD,12.70,USPS,,SHP/00012,fuel,0.10,,,,,
INV-7,2026-11-30,USD,12.70,USPS,9400100000000000000002,,reweigh,5.10,52.9,oz,,Priority,
"""

REMITTANCE_CSV = """\
remittance_number,remittance_date,currency,remittance_total,tracking_number,shipment_ref,\
collected,deduction,remitted,collected_at
REM-45,2026-11-30,USD,277.00,9400100000000000000001,SHP/00012,150.00,3.00,147.00,2026-11-28
REM-45,2026-11-30,USD,277.00,,SHP/00013,140,4.00,130.00,
"""

SAMPLE_INVOICES = [
    {
        "invoice_number": "INV-2026-000123",
        "invoice_date": "2026-11-30",
        "currency": "USD",
        "total": 45.0,
        "carrier": "ODFL",
        "credit_of": None,
        "lines": [
            {
                "tracking_number": "PRO0012345",
                "shipment_ref": "SHP/00012",
                "charge_code": code,
                "amount": amount,
                "billed_weight": 150.0,
                "weight_unit": "lb",
                "description": description,
                "service": None,
                "credit_of": None,
            }
            for code, amount, description in (
                ("base", 35.7, "400 LINE HAUL"),
                ("fuel", 4.2, "FUE FUEL SURCHARGE"),
                ("residential", 5.1, "RES RESIDENTIAL DELIVERY"),
            )
        ],
    },
    {
        "invoice_number": "INV-2026-000124",
        "invoice_date": "2026-11-30",
        "currency": "USD",
        "total": 64.41,
        "carrier": "UPSN",
        "credit_of": None,
        "lines": [
            {
                "tracking_number": tracking,
                "shipment_ref": "SHP/00013",
                "charge_code": code,
                "amount": amount,
                "billed_weight": weight,
                "weight_unit": "kg",
                "description": description,
                "service": None,
                "credit_of": None,
            }
            for tracking, weight, code, amount, description in (
                ("1Z999AA10123456784", 2.5, "base", 18.5, "400 GROUND"),
                ("1Z999AA10123456784", 2.5, "fuel", 2.16, "FUE"),
                ("1Z999AA10123456784", 2.5, "address_correction", 18.0, "ADC ADDRESS CORRECTION"),
                ("1Z999AA10123456795", 4.0, "base", 18.5, "400 GROUND"),
                ("1Z999AA10123456795", 4.0, "reweigh", 9.25, "DIM DIMENSIONAL WEIGHT"),
                ("1Z999AA10123456795", 4.0, "other", -2.0, "DSC DISCOUNT"),
            )
        ],
    },
]

INVOICE_PAGE = {
    "invoices": [
        {
            "id": "inv_0a1b",
            "object": "Invoice",
            "number": "FB-2026-000123",
            "issued_on": "2026-11-30",
            "currency": "USD",
            "amount_due": "36.20",
            "carrier": "USPS",
            "credit_of": None,
            "charges": [
                {
                    "tracking_code": "9400100000000000000001",
                    "reference": "SHP/00012",
                    "type": "base_rate",
                    "amount": "7.50",
                    "billed_weight_oz": 105.8,
                    "service": "Priority",
                    "description": "Priority Mail",
                },
                {
                    "tracking_code": "9400100000000000000001",
                    "reference": None,
                    "type": "fuel_surcharge",
                    "amount": "0.60",
                    "billed_weight_oz": None,
                    "service": None,
                    "description": "Fuel",
                },
                {
                    "tracking_code": None,
                    "reference": "SHP/00012",
                    "type": "residential_surcharge",
                    "amount": "5.10",
                },
                {
                    "tracking_code": "9400100000000000000002",
                    "type": "address_correction",
                    "amount": "18.00",
                },
                {
                    "tracking_code": "9400100000000000000002",
                    "type": "weight_adjustment",
                    "amount": "3.75",
                    "billed_weight_oz": 160,
                },
                {"tracking_code": "9400100000000000000002", "type": "other", "amount": "1.25"},
            ],
        },
        {
            "id": "inv_0a1c",
            "object": "Invoice",
            "number": "FB-2026-000124",
            "issued_on": "2026-12-01",
            "currency": "USD",
            "amount_due": "-5.10",
            "carrier": "USPS",
            "credit_of": "FB-2026-000123",
            "charges": [
                {"reference": "SHP/00012", "type": "residential_surcharge", "amount": "-5.10"}
            ],
        },
    ],
    "has_more": True,
}

REMITTANCE_PAGE = {
    "remittances": [
        {
            "id": "rem_01",
            "object": "Remittance",
            "number": "RM-2026-000045",
            "paid_on": "2026-11-30",
            "currency": "USD",
            "amount_paid": "277.00",
            "items": [
                {
                    "tracking_code": "9400100000000000000001",
                    "reference": "SHP/00012",
                    "collected": "150.00",
                    "fee": "3.00",
                    "remitted": "147.00",
                    "collected_on": "2026-11-28",
                },
                # A short remittance: 140 - 2.80 is 137.20; the audit, not the parser, says so.
                {
                    "tracking_code": None,
                    "reference": "SHP/00013",
                    "collected": "140.00",
                    "fee": "2.80",
                    "remitted": "130.00",
                    "collected_on": None,
                },
            ],
        }
    ],
    "has_more": False,
}


def _sample():
    return (DATA / "sample_210.edi").read_text()


def _replaced(text, old, new):
    """``text`` with its only ``old`` replaced: a test that edits nothing proves nothing."""
    assert text.count(old) == 1, f"{old!r} is in the sample {text.count(old)} times"
    return text.replace(old, new)


@tagged("post_install", "-at_install")
class TestInvoiceCsv(BaseCase):
    def test_rows_grouped_by_invoice_in_file_order(self):
        invoices = invoice_csv.invoices(INVOICE_CSV)
        self.assertEqual([invoice["invoice_number"] for invoice in invoices], ["INV-7", "INV-8"])
        first, credit = invoices
        self.assertEqual(
            {key: first[key] for key in first if key != "lines"},
            {
                "invoice_number": "INV-7",
                "invoice_date": "2026-11-30",
                "currency": "USD",
                "total": 12.7,
                "carrier": "USPS",
                "credit_of": None,
            },
        )
        self.assertEqual(
            first["lines"],
            [
                {
                    "tracking_number": "9400100000000000000001",
                    "shipment_ref": "SHP/00012",
                    "charge_code": "base",
                    "amount": 7.5,
                    "billed_weight": 3.0,
                    "weight_unit": "kg",
                    "description": "Priority Mail",
                    "service": "Priority",
                    "credit_of": None,
                },
                {
                    "tracking_number": None,
                    "shipment_ref": "SHP/00012",
                    "charge_code": "fuel",
                    "amount": 0.1,
                    "billed_weight": None,
                    "weight_unit": None,
                    "description": None,
                    "service": None,
                    "credit_of": None,
                },
                {
                    "tracking_number": "9400100000000000000002",
                    "shipment_ref": None,
                    "charge_code": "reweigh",
                    "amount": 5.1,
                    "billed_weight": 52.9,
                    "weight_unit": "oz",
                    "description": None,
                    "service": "Priority",
                    "credit_of": None,
                },
            ],
        )
        self.assertEqual(credit["credit_of"], "INV-6")
        self.assertEqual(credit["total"], -5.1)
        self.assertEqual(
            [(line["amount"], line["credit_of"], line["description"]) for line in credit["lines"]],
            [(-5.1, "INV-6", "Credit, residential")],
        )

    def test_optional_columns_may_be_left_out_and_bytes_are_read(self):
        text = (
            "\ufeffamount,charge_code,shipment_ref,invoice_total,currency,invoice_date,"
            "invoice_number\r\n7.50,base,SHP/1,7.50,EUR,2026-11-02,A-1\r\n\r\n"
        )
        (invoice,) = invoice_csv.invoices(text.encode("utf-8"))
        self.assertEqual(invoice["currency"], "EUR")
        self.assertIsNone(invoice["carrier"])
        self.assertEqual(
            invoice["lines"][0],
            {
                "tracking_number": None,
                "shipment_ref": "SHP/1",
                "charge_code": "base",
                "amount": 7.5,
                "billed_weight": None,
                "weight_unit": None,
                "description": None,
                "service": None,
                "credit_of": None,
            },
        )

    def test_template_is_the_header_of_every_column(self):
        template = invoice_csv.invoice_csv_template()
        self.assertEqual(template, ",".join(invoice_csv.INVOICE_COLUMNS) + "\n")
        self.assertEqual(template.split(",")[:2], ["invoice_number", "invoice_date"])
        with self.assertRaisesRegex(ValueError, r"^line 2: no invoice row after the header$"):
            invoice_csv.invoices(template)
        row = "A-1,2026-11-30,USD,1.00,,T1,,other,1.00,,,,,\n"
        self.assertEqual(invoice_csv.invoices(template + row)[0]["total"], 1.0)

    def test_charges_that_do_not_add_up_to_the_total_are_refused(self):
        text = INVOICE_CSV.replace("12.70", "12.80")
        with self.assertRaisesRegex(
            ValueError,
            r"^invoice INV-7 \(from line 2\): the charges add up to 12\.70, the invoice states "
            r"a total of 12\.80$",
        ):
            invoice_csv.invoices(text)

    def test_header_columns_must_agree_across_an_invoices_rows(self):
        lines = INVOICE_CSV.splitlines()
        for old, new, message in (
            ("USD,12.70,USPS,,SHP", "USD,12.70,UPS,,SHP", "carrier 'UPS' of invoice INV-7"),
            (
                "INV-7,2026-11-30,USD,12.70,USPS,,",
                "INV-7,2026-12-01,USD,12.70,USPS,,",
                "invoice_date '2026-12-01' of invoice INV-7",
            ),
            ("USD,12.70,USPS,,SHP", "EUR,12.70,USPS,,SHP", "currency 'EUR' of invoice INV-7"),
            ("USD,12.70,USPS,,SHP", "USD,12.7,USPS,,SHP", "invoice_total '12.7' of invoice"),
            (",,,,,\n", ",,,,,INV-5\n", "credit_of 'INV-5' of invoice INV-7"),
        ):
            with self.subTest(new=new):
                text = "\n".join(lines) + "\n"
                text = _replaced(text, old, new)
                with self.assertRaisesRegex(
                    ValueError, rf"^line 4: {message}.* differs from .* on line 2$"
                ):
                    invoice_csv.invoices(text)

    def test_every_refusal_names_its_line_and_column(self):
        header, first, *rest = INVOICE_CSV.splitlines()
        body = "\n".join([first, *rest]) + "\n"
        for text, message in (
            ("", r"^line 1: no header \(expected the columns invoice_number,"),
            (" , \n", r"^line 1: no header"),
            (header + ",ammount\n" + body, r"^line 1: unknown column\(s\) 'ammount'"),
            (
                header.replace("credit_of", "amount") + "\n" + body,
                r"^line 1: column\(s\) amount given twice$",
            ),
            (
                "invoice_number,invoice_date,currency,charge_code,amount,tracking_number\n",
                r"^line 1: missing column\(s\) invoice_total$",
            ),
            (
                "invoice_number,invoice_date,currency,invoice_total,charge_code,amount\n",
                r"^line 1: missing column tracking_number or shipment_ref$",
            ),
            (header + "\n" + first + ",extra\n", r"^line 2: 15 cells, the header has 14 columns$"),
            (header + "\n" + first.replace("INV-7", " ") + "\n", r"^line 2: no invoice_number$"),
            (
                header + "\n" + first.replace("7.50", "7.505") + "\n",
                r"^line 2: amount '7\.505' is not an amount \(decimal text with at most 2 decimals",
            ),
            (header + "\n" + first.replace("7.50", '"7,50"') + "\n", r"^line 2: amount "),
            (
                header + "\n" + first.replace("12.70", "$12.70") + "\n",
                r"^line 2: invoice_total '\$12\.70' is not an amount",
            ),
            (
                header + "\n" + first.replace("2026-11-30", "30/11/2026") + "\n",
                r"^line 2: invoice_date '30/11/2026' is not an ISO date \(YYYY-MM-DD\)$",
            ),
            (
                header + "\n" + first.replace("2026-11-30", "2026-02-30") + "\n",
                r"^line 2: invoice_date '2026-02-30' is not an ISO date",
            ),
            (
                header + "\n" + first.replace("USD", "usd") + "\n",
                r"^line 2: currency 'usd' is not an ISO 4217 currency code",
            ),
            (
                header + "\n" + first.replace(",base,", ",freight,") + "\n",
                r"^line 2: unknown charge code 'freight' \(one of base, fuel, residential, "
                r"address_correction, reweigh, other\)$",
            ),
            (
                header + "\n" + first.replace(",3,kg,", ",3,,") + "\n",
                r"^line 2: billed weight without a known unit \(None; one of kg, g, lb, oz\)$",
            ),
            (
                header + "\n" + first.replace(",3,kg,", ",3,lbs,") + "\n",
                r"^line 2: billed weight without a known unit \('lbs';",
            ),
            (
                header + "\n" + first.replace(",3,kg,", ",,kg,") + "\n",
                r"^line 2: weight unit 'kg' without a billed weight$",
            ),
            (
                header + "\n" + first.replace(",3,kg,", ",-3,kg,") + "\n",
                r"^line 2: billed weight '-3' is not a weight \(a number >= 0\)$",
            ),
            (
                header + "\n" + first.replace("9400100000000000000001,SHP/00012", ",") + "\n",
                r"^line 2: neither a tracking number nor a shipment reference$",
            ),
            (b"invoice_number\n\xff\n", r"^the file is not UTF-8 text \(byte 15\)$"),
        ):
            with self.subTest(message=message):
                with self.assertRaisesRegex(ValueError, message):
                    invoice_csv.invoices(text)

    def test_a_quoted_newline_keeps_the_line_numbers(self):
        header, first, second, *_rest = INVOICE_CSV.splitlines()
        text = "\n".join(
            [header, first.replace("Priority Mail", '"Priority\nMail"'), second + ",x"]
        )
        # The first row spans lines 2-3: the next one starts on line 4.
        with self.assertRaisesRegex(ValueError, r"^line 4: 15 cells"):
            invoice_csv.invoices(text)

    def test_remittances(self):
        (remittance,) = invoice_csv.remittances(REMITTANCE_CSV)
        self.assertEqual(
            remittance,
            {
                "remittance_number": "REM-45",
                "remittance_date": "2026-11-30",
                "currency": "USD",
                "total": 277.0,
                "lines": [
                    {
                        "tracking_number": "9400100000000000000001",
                        "shipment_ref": "SHP/00012",
                        "collected": 150.0,
                        "deduction": 3.0,
                        "remitted": 147.0,
                        "collected_at": "2026-11-28",
                    },
                    # Short (140 - 4 is 136): what the carrier says, for the audit to judge.
                    {
                        "tracking_number": None,
                        "shipment_ref": "SHP/00013",
                        "collected": 140.0,
                        "deduction": 4.0,
                        "remitted": 130.0,
                        "collected_at": None,
                    },
                ],
            },
        )

    def test_remittance_refusals(self):
        header, first, second = REMITTANCE_CSV.splitlines()
        for text, message in (
            (
                REMITTANCE_CSV.replace("277.00", "280.00"),
                r"^remittance REM-45 \(from line 2\): the remitted amounts add up to 277\.00, the "
                r"remittance states a total of 280\.00$",
            ),
            (
                f"{header}\n{first}\n{second.replace('4.00', '-4.00')}\n",
                r"^line 3: deduction -4\.00 is negative$",
            ),
            (
                f"{header}\n{first.replace('2026-11-28', '28.11.2026')}\n",
                r"^line 2: collected_at '28\.11\.2026' is not an ISO date",
            ),
            (
                f"{header}\n{first.replace('147.00', '')}\n",
                r"^line 2: remitted '' is not an amount",
            ),
            (
                f"{header}\n{first}\n{second.replace('2026-11-30', '2026-12-01')}\n",
                r"^line 3: remittance_date '2026-12-01' of remittance REM-45 differs from "
                r"'2026-11-30' on line 2$",
            ),
            (header.replace(",deduction", "") + "\n", r"^line 1: missing column\(s\) deduction$"),
            (header + "\n", r"^line 2: no remittance row after the header$"),
            (INVOICE_CSV, r"^line 1: unknown column\(s\) 'invoice_number', 'invoice_date'"),
        ):
            with self.subTest(message=message):
                with self.assertRaisesRegex(ValueError, message):
                    invoice_csv.remittances(text)


@tagged("post_install", "-at_install")
class TestX12_210(BaseCase):
    def test_sample_is_parsed_exactly(self):
        self.assertEqual(x12_210.invoices(_sample()), SAMPLE_INVOICES)

    def test_malformed_sample_is_refused_by_its_control_number(self):
        with self.assertRaisesRegex(
            ValueError,
            r"^segment 43 \(SE\): control number SE02 '0003' differs from ST02 '0002' "
            r"\(segment 24\)$",
        ):
            x12_210.invoices((DATA / "sample_210_malformed.edi").read_text())

    def test_delimiters_come_from_the_isa(self):
        # Other separators, one segment a line with CR LF, no terminator character but the
        # line break itself, bytes: the same invoices.
        text = _sample().replace("*", "|").replace(">~", "^~")
        self.assertEqual(x12_210.invoices(text.replace("~\n", "~\r\n")), SAMPLE_INVOICES)
        self.assertEqual(x12_210.invoices(text.replace("~\n", "\n").encode()), SAMPLE_INVOICES)
        self.assertEqual(x12_210.invoices(_sample().replace("~\n", "~")), SAMPLE_INVOICES)
        self.assertEqual(x12_210.invoices("\n  " + _sample() + "\n\n"), SAMPLE_INVOICES)

    def test_segments_are_numbered_through_the_file(self):
        segments = x12_210.segments(_sample())
        self.assertEqual(len(segments), 45)
        self.assertEqual(
            [(segment.number, segment.id) for segment in segments[:3]],
            [(1, "ISA"), (2, "GS"), (3, "ST")],
        )
        self.assertEqual(segments[3].element(2), "INV-2026-000123")
        self.assertEqual(segments[3].element(40), "")

    def test_envelope_errors(self):
        sample = _sample()
        for old, new, message in (
            (
                "*000000905*0*P*",
                "*000000906*0*P*",
                r"^segment 45 \(IEA\): control number IEA02 '000000905' differs from ISA13 "
                r"'000000906' \(segment 1\)$",
            ),
            (
                "IEA*1*",
                "IEA*2*",
                r"^segment 45 \(IEA\): IEA01 counts '2' functional groups; the interchange has 1$",
            ),
            (
                "GE*2*905",
                "GE*2*906",
                r"^segment 44 \(GE\): control number GE02 '906' differs from GS06 '905' "
                r"\(segment 2\)$",
            ),
            (
                "GE*2*",
                "GE*3*",
                r"^segment 44 \(GE\): GE01 counts '3' transaction sets; the group has 2$",
            ),
            (
                "SE*21*",
                "SE*20*",
                r"^segment 23 \(SE\): SE01 counts '20' segments; the transaction set has 21$",
            ),
            (
                "SE*21*0001",
                "SE*21*",
                r"^segment 23 \(SE\): control number SE02 '' differs from ST02 '0001'",
            ),
            (
                "ST*210*0002",
                "ST*211*0002",
                r"^segment 24 \(ST\): transaction set '211' is not a 210$",
            ),
            (
                "*X*004010~",
                "*X*005010~",
                r"^segment 2 \(GS\): version GS08 '005010' is not 004010$",
            ),
            (
                "SE*20*0002~\n",
                "",
                r"^segment 43 \(GE\): the transaction set of segment 24 has no SE$",
            ),
            (
                "IEA*1*000000905~\n",
                "",
                r"^segment 44 \(GE\): the file ends here, before the end of the interchange of "
                r"segment 1 \(IEA\)$",
            ),
            (
                "GE*2*905~\nIEA*1*000000905~\n",
                "",
                r"^segment 43 \(SE\): the file ends here, before the end of the group of segment 2",
            ),
            (
                "L3*7.1*G***6441~\nSE*20*0002~\nGE*2*905~\nIEA*1*000000905~\n",
                "",
                r"^segment 41 \(L1\): the file ends here, before the end of the transaction set of "
                r"segment 24 \(SE\)$",
            ),
            (
                "GS*IM",
                "XX*IM",
                r"^segment 2 \(XX\): expected the end of the interchange of "
                r"segment 1 \(IEA\)$",
            ),
            (
                "IEA*1*000000905~\n",
                "IEA*1*000000905~\nGS*IM~\n",
                r"^segment 46 \(GS\): expected an interchange \(ISA\)$",
            ),
        ):
            with self.subTest(new=new, message=message):
                with self.assertRaisesRegex(ValueError, message):
                    x12_210.invoices(_replaced(sample, old, new))

    def test_delimiter_errors(self):
        sample = _sample()
        for text, message in (
            ("", r"^segment 1: the file does not start with an ISA segment$"),
            ("GS*IM~", r"^segment 1: the file does not start with an ISA segment$"),
            (sample[:80], r"^segment 1 \(ISA\): shorter than the 106 characters of an ISA"),
            (
                sample.replace("*ODFL           *", "*ODFL *", 1),
                r"^segment 1 \(ISA\): not a fixed-width ISA with the element separator '\*'",
            ),
            (
                sample.replace(">~", "*~", 1),
                r"^segment 1 \(ISA\): element separator '\*', "
                r"component separator '\*' and segment terminator '~' must be distinct symbols$",
            ),
            (
                sample + "ISA*00",
                r"^segment 46: text after the last segment terminator '~': "
                r"'ISA\*00'$",
            ),
            (sample.replace("C3*USD~", "C3*USD~~", 1), r"^segment 6: '' is not a segment id$"),
            (sample.replace("C3*USD~", "c3*USD~", 1), r"^segment 5: 'c3' is not a segment id$"),
        ):
            with self.subTest(message=message):
                with self.assertRaisesRegex(ValueError, message):
                    x12_210.invoices(text)

    def test_totals_that_do_not_add_up(self):
        sample = _sample()
        for old, new, message in (
            (
                "L3*150*B***4500",
                "L3*150*B***4600",
                r"^segment 22 \(L3\): total charges L305 46\.00 differ from the sum of the L1 "
                r"charges 45\.00$",
            ),
            (
                "*20261130*4500*",
                "*20261130*4600*",
                r"^segment 4 \(B3\): net amount due B307 46\.00 differs from the sum of the L1 "
                r"charges 45\.00$",
            ),
            (
                "L1*3***510*",
                "L1*3***520*",
                r"^segment 22 \(L3\): total charges L305 45\.00 differ from the sum of the L1 "
                r"charges 45\.10$",
            ),
        ):
            with self.subTest(new=new):
                with self.assertRaisesRegex(ValueError, message):
                    x12_210.invoices(_replaced(sample, old, new))

    def test_without_l3_the_charges_still_add_up_to_b307(self):
        text = _replaced(_replaced(_sample(), "L3*150*B***4500~\n", ""), "SE*21*", "SE*20*")
        self.assertEqual(x12_210.invoices(text), SAMPLE_INVOICES)
        with self.assertRaisesRegex(ValueError, r"^segment 4 \(B3\): net amount due B307 "):
            x12_210.invoices(_replaced(text, "*4500*", "*4501*"))

    def test_segment_refusals(self):
        sample = _sample()
        for old, new, message in (
            (
                "*20261130*4500*",
                "*20261130*45.00*",
                r"^segment 4 \(B3\): net amount due B307 '45\.00' is not an amount in cents "
                r"\(N2: digits, implied 2 decimals\)$",
            ),
            ("*20261130*4500*", "*20261130**", r"^segment 4 \(B3\): no net amount due \(B307\)$"),
            (
                "*20261130*4500*",
                "*20261131*4500*",
                r"^segment 4 \(B3\): date B306 '20261131' is not a date CCYYMMDD$",
            ),
            ("B3**INV-2026-000123*", "B3***", r"^segment 4 \(B3\): no invoice number \(B302\)$"),
            (
                "C3*USD~\nN9*CN",
                "C3*US$~\nN9*CN",
                r"^segment 5 \(C3\): currency C301 'US\$' is not an ISO 4217 currency code",
            ),
            ("L1*2***420*", "L1*2****", r"^segment 20 \(L1\): no charge \(L104\)$"),
            (
                "L1*2***420*",
                "L1*2***4.20*",
                r"^segment 20 \(L1\): charge L104 '4\.20' is not an amount in cents",
            ),
            (
                "N9*BM*SHP/00012",
                "N9*BM*",
                r"^segment 7 \(N9\): reference BM without its value "
                r"\(N902\)$",
            ),
            (
                "L0*1*150*FR*150*B***1*PLT**L",
                "L0*1*150*FR*150*B***1*PLT**G",
                r"^segment 18 \(L0\): weight unit 'G' \(L011, or B305 of the B3\) is not L "
                r"\(pounds\) or K \(kilograms\)$",
            ),
            (
                "L0*1*150*FR*150*B",
                "L0*1*150*FR*1,5*B",
                r"^segment 18 \(L0\): weight L004 '1,5' is not a number$",
            ),
            (
                "L0*2*4*KG*4*B",
                "L0*2*4*KG*4*G",
                r"^segment 38 \(L0\): several weights in the LX loop of segment 35, and not one "
                r"qualified B \(billed weight\) in L005$",
            ),
            (
                "C3*USD~\nN9*CN",
                "C3*USD~\nL1*1***100~\nN9*CN",
                r"^segment 6 \(L1\): outside an LX loop$",
            ),
            (
                "L3*150*B***4500~\n",
                "L3*150*B***4500~\nK1*LATE~\n",
                r"^segment 23 \(K1\): after the L3 totals \(segment 22\)$",
            ),
            (
                "C3*USD~\nN9*CN",
                "C3*USD~\nB3**X~\nN9*CN",
                r"^segment 6 \(B3\): a second B3, or a B3 after the first LX$",
            ),
            (
                "B3**INV-2026-000123*PRO0012345*PP*L*20261130*4500**20261128*035*ODFL~\n",
                "",
                r"^segment 3 \(ST\): the transaction set has no B3$",
            ),
            (
                "*PRO0012345*PP*L*20261130*4500**20261128*035*ODFL~\nC3*USD~\nN9*CN*PRO0012345~\n"
                "N9*BM*SHP/00012~\n",
                "**PP*L*20261130*4500**20261128*035*ODFL~\nC3*USD~\n",
                r"^segment 17 \(L1\): neither a tracking number nor a shipment reference$",
            ),
        ):
            with self.subTest(new=new):
                text = _replaced(sample, old, new)
                # Keep SE01 right: the test is about the segment, not the count.
                text = _replaced(text, "SE*21*", f"SE*{21 + new.count('~') - old.count('~')}*")
                with self.assertRaisesRegex(ValueError, message):
                    x12_210.invoices(text)

    def test_a_transaction_set_without_charges_or_an_interchange_without_one(self):
        sample = _sample()
        segments = sample.split("~\n")
        # Transaction 1 keeps its ST, B3, C3 and SE: no LX, no L1.
        charges_free = "~\n".join([*segments[:5], "SE*4*0001", *segments[23:]])
        with self.assertRaisesRegex(
            ValueError,
            r"^segment 3 \(ST\): the transaction set has no charge \(L1 in an LX loop\)$",
        ):
            x12_210.invoices(charges_free)
        empty = "~\n".join([segments[0], segments[1], "GE*0*905", "IEA*1*000000905", ""])
        with self.assertRaisesRegex(
            ValueError, r"^segment 1 \(ISA\): the interchange holds no 210 transaction set$"
        ):
            x12_210.invoices(empty)

    def test_references_of_an_item_and_of_parties(self):
        # The item's own N9 wins over the invoice's; an N9 of a party loop (N1) is not read.
        text = _replaced(_sample(), "LX*1~\nL5", "LX*1~\nN9*SI*SHP/00099~\nN9*CN*PRO999~\nL5")
        text = _replaced(text, "SE*21*", "SE*23*")
        lines = x12_210.invoices(text)[0]["lines"]
        self.assertEqual(
            {(line["tracking_number"], line["shipment_ref"]) for line in lines},
            {("PRO999", "SHP/00099")},
        )
        # Without N9 CN, B303 (the carrier's shipment number) is the tracking number.
        text = _replaced(_sample(), "N9*CN*PRO0012345~\n", "")
        text = _replaced(_replaced(text, "*PRO0012345*", "*PRO777*"), "SE*21*", "SE*20*")
        self.assertEqual(x12_210.invoices(text)[0]["lines"][0]["tracking_number"], "PRO777")


@tagged("post_install", "-at_install")
class TestFreightBilling(BaseCase):
    def test_invoices_page(self):
        first, credit = freight_billing.invoices(copy.deepcopy(INVOICE_PAGE))
        self.assertEqual(
            {key: first[key] for key in first if key != "lines"},
            {
                "invoice_number": "FB-2026-000123",
                "invoice_date": "2026-11-30",
                "currency": "USD",
                "total": 36.2,
                "carrier": "USPS",
                "credit_of": None,
            },
        )
        self.assertEqual(
            first["lines"][0],
            {
                "tracking_number": "9400100000000000000001",
                "shipment_ref": "SHP/00012",
                "charge_code": "base",
                "amount": 7.5,
                "billed_weight": 105.8,
                "weight_unit": "oz",
                "description": "Priority Mail",
                "service": "Priority",
                "credit_of": None,
            },
        )
        self.assertEqual(
            [
                (line["charge_code"], line["amount"], line["billed_weight"], line["weight_unit"])
                for line in first["lines"]
            ],
            [
                ("base", 7.5, 105.8, "oz"),
                ("fuel", 0.6, None, None),
                ("residential", 5.1, None, None),
                ("address_correction", 18.0, None, None),
                ("reweigh", 3.75, 160.0, "oz"),
                ("other", 1.25, None, None),
            ],
        )
        self.assertEqual(
            (credit["credit_of"], credit["total"], credit["lines"][0]["credit_of"]),
            ("FB-2026-000123", -5.1, "FB-2026-000123"),
        )

    def test_a_duplicate_copy_is_returned_as_it_came(self):
        page = copy.deepcopy(INVOICE_PAGE)
        page["invoices"].append(dict(page["invoices"][0], id="inv_0a1d"))
        numbers = [invoice["invoice_number"] for invoice in freight_billing.invoices(page)]
        self.assertEqual(numbers, ["FB-2026-000123", "FB-2026-000124", "FB-2026-000123"])

    def test_invoice_refusals(self):
        for change, message in (
            (
                lambda invoice: invoice.update(amount_due="36.30"),
                r"^invoice 1 \(FB-2026-000123\): the charges add up to 36\.20, the invoice states "
                r"a total of 36\.30$",
            ),
            (
                lambda invoice: invoice["charges"][1].update(type="fuel"),
                r"^invoice 1 \(FB-2026-000123\), charge 2: unknown charge type 'fuel' \(one of "
                r"base_rate, fuel_surcharge, residential_surcharge, address_correction, "
                r"weight_adjustment, other\)$",
            ),
            (
                lambda invoice: invoice["charges"][0].update(amount=7.5),
                r"^invoice 1 \(FB-2026-000123\), charge 1: amount 7\.5 is not an amount",
            ),
            (
                lambda invoice: invoice["charges"][0].update(billed_weight_oz="heavy"),
                r"^invoice 1 \(FB-2026-000123\), charge 1: billed_weight_oz 'heavy' is not a "
                r"weight",
            ),
            (
                lambda invoice: invoice["charges"][0].update(billed_weight_oz=True),
                r"charge 1: billed_weight_oz True is not a weight",
            ),
            (
                lambda invoice: invoice["charges"][2].update(reference=None),
                r"^invoice 1 \(FB-2026-000123\), charge 3: neither a tracking number nor a "
                r"shipment reference$",
            ),
            (
                lambda invoice: invoice["charges"].__setitem__(0, "base"),
                r"^invoice 1 \(FB-2026-000123\), charge 1: 'base' is not an object$",
            ),
            (
                lambda invoice: invoice.update(issued_on="2026-11-30T10:00:00Z"),
                r"^invoice 1 \(FB-2026-000123\): issued_on '2026-11-30T10:00:00Z' is not an "
                r"ISO date",
            ),
            (
                lambda invoice: invoice.update(charges=[]),
                r"^invoice 1 \(FB-2026-000123\): no charge line$",
            ),
            (
                lambda invoice: invoice.update(charges=None),
                r"^invoice 1 \(FB-2026-000123\): charges None is not a list$",
            ),
            (lambda invoice: invoice.update(number=""), r"^invoice 1 \(inv_0a1b\): no number$"),
            (
                lambda invoice: invoice.update(object="Remittance"),
                r"^invoice 1 \(FB-2026-000123\): expected an Invoice, got a 'Remittance'$",
            ),
            (lambda invoice: invoice.update(currency=None), r"currency None is not an ISO 4217"),
        ):
            with self.subTest(message=message):
                page = copy.deepcopy(INVOICE_PAGE)
                change(page["invoices"][0])
                with self.assertRaisesRegex(ValueError, message):
                    freight_billing.invoices(page)
        for page in (None, [], {"invoices": None}, {"remittances": []}):
            with self.assertRaisesRegex(ValueError, r"^expected a page of invoices"):
                freight_billing.invoices(page)

    def test_remittances_page(self):
        (remittance,) = freight_billing.remittances(copy.deepcopy(REMITTANCE_PAGE))
        self.assertEqual(
            remittance,
            {
                "remittance_number": "RM-2026-000045",
                "remittance_date": "2026-11-30",
                "currency": "USD",
                "total": 277.0,
                "lines": [
                    {
                        "tracking_number": "9400100000000000000001",
                        "shipment_ref": "SHP/00012",
                        "collected": 150.0,
                        "deduction": 3.0,
                        "remitted": 147.0,
                        "collected_at": "2026-11-28",
                    },
                    {
                        "tracking_number": None,
                        "shipment_ref": "SHP/00013",
                        "collected": 140.0,
                        "deduction": 2.8,
                        "remitted": 130.0,
                        "collected_at": None,
                    },
                ],
            },
        )

    def test_remittance_refusals(self):
        for change, message in (
            (
                lambda remittance: remittance.update(amount_paid="280.00"),
                r"^remittance 1 \(RM-2026-000045\): the remitted amounts add up to 277\.00, the "
                r"remittance states a total of 280\.00$",
            ),
            (
                lambda remittance: remittance["items"][0].update(fee="-3.00"),
                r"^remittance 1 \(RM-2026-000045\), item 1: deduction -3\.00 is negative$",
            ),
            (lambda remittance: remittance["items"][0].update(collected="150"), None),
            (
                lambda remittance: remittance["items"][1].update(collected_on="yesterday"),
                r"^remittance 1 \(RM-2026-000045\), item 2: collected_on 'yesterday' is not an ISO",
            ),
            (
                lambda remittance: remittance.update(items=[]),
                r"^remittance 1 \(RM-2026-000045\): no remittance line$",
            ),
            (
                lambda remittance: remittance["items"][0].update(remitted=None),
                r"item 1: remitted None is not an amount",
            ),
        ):
            with self.subTest(message=message):
                page = copy.deepcopy(REMITTANCE_PAGE)
                change(page["remittances"][0])
                if message is None:
                    # "150" is money text too: read, not refused.
                    self.assertEqual(
                        freight_billing.remittances(page)[0]["lines"][0]["collected"], 150.0
                    )
                    continue
                with self.assertRaisesRegex(ValueError, message):
                    freight_billing.remittances(page)

    def test_paging(self):
        self.assertEqual(
            freight_billing.page_path(freight_billing.INVOICES_PATH),
            "/v1/invoices?after=&limit=100",
        )
        self.assertEqual(
            freight_billing.page_path(freight_billing.REMITTANCES_PATH, "rem_01", 500),
            "/v1/remittances?after=rem_01&limit=500",
        )
        for limit in (0, 501, "10", True):
            with self.assertRaisesRegex(ValueError, r"^page size .* is not between 1 and 500$"):
                freight_billing.page_path(freight_billing.INVOICES_PATH, None, limit)
        self.assertEqual(freight_billing.next_page(INVOICE_PAGE, "invoices"), ("inv_0a1c", True))
        self.assertEqual(
            freight_billing.next_page({"invoices": [], "has_more": False}, "invoices"),
            (None, False),
        )
        with self.assertRaisesRegex(ValueError, r"^the page's has_more None is not a boolean$"):
            freight_billing.next_page({"invoices": []}, "invoices")
        with self.assertRaisesRegex(
            ValueError, r"^the page says more invoices follow, but its last one has no id$"
        ):
            freight_billing.next_page({"invoices": [], "has_more": True}, "invoices")

    def test_export_request(self):
        body = freight_billing.export_request(
            "2026-11",
            "freight",
            "My Company (San Francisco)",
            "USD",
            [
                {
                    "carrier": "USPS",
                    "shipment_ref": "SHP/00012",
                    "tracking_number": "9400100000000000000001",
                    "amount": 12.3,
                    "account": "600100",
                    "invoice_number": "FB-2026-000123",
                },
                {"carrier": "USPS", "shipment_ref": "SHP/00013", "amount": "-5.10"},
                {"carrier": "UPS", "shipment_ref": "SHP/00014", "amount": 7},
            ],
        )
        self.assertEqual(
            body,
            {
                "period": "2026-11",
                "kind": "freight",
                "company": "My Company (San Francisco)",
                "currency": "USD",
                "lines": [
                    {
                        "carrier": "USPS",
                        "shipment_ref": "SHP/00012",
                        "tracking_number": "9400100000000000000001",
                        "amount": "12.30",
                        "account": "600100",
                        "invoice_number": "FB-2026-000123",
                    },
                    {
                        "carrier": "USPS",
                        "shipment_ref": "SHP/00013",
                        "tracking_number": None,
                        "amount": "-5.10",
                        "account": None,
                    },
                    {
                        "carrier": "UPS",
                        "shipment_ref": "SHP/00014",
                        "tracking_number": None,
                        "amount": "7.00",
                        "account": None,
                    },
                ],
            },
        )

    def test_export_request_refusals(self):
        line = {"carrier": "USPS", "shipment_ref": "SHP/00012", "amount": 1.0}
        for arguments, message in (
            (("2026-13", "freight", "C", "USD", [line]), r"^period '2026-13' is not a month"),
            (("2026-11-01", "freight", "C", "USD", [line]), r"^period '2026-11-01' is not a"),
            (
                ("2026-11", "fuel", "C", "USD", [line]),
                r"^export kind 'fuel' is not one of freight, cod$",
            ),
            (("2026-11", "cod", " ", "USD", [line]), r"^the export: no company$"),
            (("2026-11", "cod", "C", "dollars", [line]), r"^the export: currency 'dollars'"),
            (("2026-11", "cod", "C", "USD", []), r"^the export has no line$"),
            (
                ("2026-11", "cod", "C", "USD", [dict(line, amount=0.1 + 0.2)]),
                r"^export line 1: amount 0\.30000000000000004 is not an amount with at most 2",
            ),
            (
                ("2026-11", "cod", "C", "USD", [line, dict(line, amount=None)]),
                r"^export line 2: amount None is not an amount",
            ),
            (
                ("2026-11", "cod", "C", "USD", [dict(line, amount=float("nan"))]),
                r"^export line 1: amount nan is not an amount",
            ),
            (
                ("2026-11", "cod", "C", "USD", [dict(line, shipment_ref=None)]),
                r"^export line 1: no shipment_ref$",
            ),
            (
                ("2026-11", "cod", "C", "USD", [dict(line, carrier="")]),
                r"^export line 1: no carrier$",
            ),
            (("2026-11", "cod", "C", "USD", ["x"]), r"^export line 1: 'x' is not an object$"),
        ):
            with self.subTest(message=message):
                with self.assertRaisesRegex(ValueError, message):
                    freight_billing.export_request(*arguments)


@tagged("post_install", "-at_install")
class TestCanonical(BaseCase):
    def test_money_is_exact_to_the_cent(self):
        self.assertEqual(str(canonical.money(" 7.5 ", "x")), "7.5")
        self.assertEqual(canonical.as_float(canonical.money("0.10", "x") * 3), 0.3)
        for value in ("1e3", "+1.00", "1.", ".5", "1 000.00", "NaN", None, 7.5):
            with self.subTest(value=value):
                with self.assertRaisesRegex(ValueError, r"^here: amount .* is not an amount"):
                    canonical.money(value, "here")
