from . import canonical, freight_billing, invoice_csv, x12_210
