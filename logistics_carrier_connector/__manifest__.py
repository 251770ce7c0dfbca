{
    "name": "Logistics Carrier Connector",
    "summary": "Carrier aggregator connector: rates, labels, tracking, proof of delivery",
    "version": "19.0.1.2.0",
    "category": "Inventory/Delivery",
    "license": "LGPL-3",
    "author": "Logistics Integration Suite",
    "website": "https://github.com/logistics-integration-suite/logistics-integration-suite",
    "depends": ["logistics_integration_base", "stock_delivery"],
    "data": [
        "security/ir.model.access.csv",
        "security/logistics_carrier_rules.xml",
        "data/logistics_carrier_status_map_data.xml",
        "data/logistics_exception_type_data.xml",
        "data/mail_template_data.xml",
        "data/logistics_sla_policy_data.xml",
        "views/logistics_backend_views.xml",
        "views/logistics_shipment_views.xml",
        "views/logistics_exception_views.xml",
        "views/logistics_carrier_status_map_views.xml",
        "views/delivery_carrier_views.xml",
    ],
    "demo": [
        "demo/logistics_carrier_demo.xml",
        "demo/delivery_carrier_demo.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "logistics_carrier_connector/static/tests/tours/*.js",
        ],
    },
}
