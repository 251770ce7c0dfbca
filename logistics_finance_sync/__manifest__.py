{
    "name": "Logistics Finance Sync",
    "summary": "Freight audit of carrier invoices, freight accruals, COD and vendor bills",
    "version": "19.0.1.0.0",
    "category": "Inventory/Delivery",
    "license": "LGPL-3",
    "author": "Logistics Integration Suite",
    "website": "https://github.com/logistics-integration-suite/logistics-integration-suite",
    "depends": ["logistics_integration_base", "account", "delivery"],
    "data": [
        "security/ir.model.access.csv",
        "security/logistics_finance_rules.xml",
        "data/logistics_exception_type_data.xml",
        "data/logistics_freight_tolerance_data.xml",
        "data/queue_job_data.xml",
        "data/ir_cron_data.xml",
        "views/logistics_backend_views.xml",
        "views/logistics_carrier_invoice_views.xml",
        "views/logistics_freight_reconciliation_report_views.xml",
        "views/menus.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "logistics_finance_sync/static/tests/tours/*.js",
        ],
    },
    "demo": [
        "demo/logistics_finance_demo.xml",
    ],
}
