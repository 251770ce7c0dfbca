{
    "name": "Logistics Monitoring",
    "summary": "Exception board, shipment timeline, SLA dashboards and alert rules",
    "version": "19.0.1.0.0",
    "category": "Inventory/Delivery",
    "license": "LGPL-3",
    "author": "Logistics Integration Suite",
    "website": "https://github.com/logistics-integration-suite/logistics-integration-suite",
    "depends": ["logistics_integration_base"],
    "data": [
        "security/ir.model.access.csv",
        "security/logistics_alert_rules.xml",
        "data/logistics_alert_data.xml",
        "data/logistics_alert_mail_templates.xml",
        "views/logistics_alert_views.xml",
        "views/logistics_live_views.xml",
        "views/logistics_shipment_views.xml",
        "views/logistics_timeline_views.xml",
        "views/menus.xml",
    ],
    "demo": ["demo/logistics_alert_demo.xml"],
    "assets": {
        "web.assets_backend": [
            "logistics_monitoring/static/src/live/**/*",
            "logistics_monitoring/static/src/timeline/*",
        ],
        "web.assets_tests": [
            "logistics_monitoring/static/tests/tours/*.js",
        ],
    },
}
