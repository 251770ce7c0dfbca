{
    "name": "Logistics WMS Connector",
    "summary": "WMS / 3PL connector: order release, pick-pack-ship confirmations, stock sync",
    "version": "19.0.1.1.0",
    "category": "Inventory/Delivery",
    "license": "LGPL-3",
    "author": "Logistics Integration Suite",
    "website": "https://github.com/logistics-integration-suite/logistics-integration-suite",
    "depends": ["logistics_integration_base"],
    "data": [
        "data/ir_cron_data.xml",
        "data/logistics_exception_type_data.xml",
        "data/logistics_exception_type_stock.xml",
        "data/logistics_sla_policy_data.xml",
        "views/logistics_backend_views.xml",
        "views/logistics_shipment_views.xml",
        "views/stock_warehouse_views.xml",
    ],
    "demo": [
        "demo/logistics_wms_demo.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "logistics_wms_connector/static/tests/tours/*.js",
        ],
    },
}
