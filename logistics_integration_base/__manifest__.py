{
    "name": "Logistics Integration Base",
    "summary": "Canonical shipment events, partner backends, reliable jobs, audit",
    "version": "19.0.1.0.0",
    "category": "Inventory/Delivery",
    "license": "LGPL-3",
    "author": "Logistics Integration Suite",
    "website": "https://github.com/logistics-integration-suite/logistics-integration-suite",
    "depends": ["sale_stock", "mail", "queue_job"],
    "data": [
        "security/logistics_security.xml",
        "views/menus.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "logistics_integration_base/static/tests/tours/*.js",
        ],
    },
    "application": True,
}
