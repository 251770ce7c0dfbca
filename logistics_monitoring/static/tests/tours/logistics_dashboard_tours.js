import { registry } from "@web/core/registry";

// Data: logistics_monitoring/tests/common_dashboard.py (one shipment awaiting release; the
// released → acknowledged hand-offs take 60, 120 and 300 s, the last one ten days ago).
const RELEASE_ACK_ROW = '.o_latency_handoff .o_latency_row:contains("Acknowledged")';

registry.category("web_tour.tours").add("logistics_dashboard_tiles", {
    steps: () => [
        {
            content: "The Logistics app opens on the dashboard; a tile counts the order awaiting release",
            trigger: '.o_logistics_dashboard_tile[data-code="orders_awaiting_release"] .o_logistics_dashboard_value:contains(1)',
        },
        {
            content: "The breached SLAs are counted",
            trigger: '.o_logistics_dashboard_tile[data-code="sla_breached"] .o_logistics_dashboard_value:contains(2)',
        },
        {
            content: "The hand-off latency chart is drawn",
            trigger: ".o_chart_latency canvas",
            run: () => {
                const canvas = document.querySelector(".o_chart_latency canvas");
                if (!window.Chart?.getChart(canvas)) {
                    throw new Error("no Chart.js chart on the latency canvas");
                }
            },
        },
        {
            content: "The trend chart is drawn with this period's events",
            trigger: ".o_logistics_dashboard_trend_totals .o_trend_events:contains(15)",
            run: () => {
                for (const canvas of document.querySelectorAll(".o_logistics_dashboard canvas")) {
                    if (!window.Chart.getChart(canvas)) {
                        throw new Error("a chart of the dashboard is not drawn");
                    }
                }
            },
        },
        {
            content: "Open the orders awaiting release",
            trigger: '.o_logistics_dashboard_tile[data-code="orders_awaiting_release"]',
            run: "click",
        },
        {
            content: "The list is the tile's",
            trigger: ".o_breadcrumb:contains(Orders awaiting release)",
        },
        {
            content: "It shows that one shipment only",
            trigger: ".o_list_view:has(.o_data_row):not(:has(.o_data_row + .o_data_row))",
        },
    ],
});

registry.category("web_tour.tours").add("logistics_dashboard_period", {
    steps: () => [
        {
            content: "Over 30 days the release hand-off's p95 is 282 s",
            trigger: `${RELEASE_ACK_ROW} .o_p95:contains(4m 42s)`,
        },
        {
            content: "Choose the last 7 days",
            trigger: '.o_logistics_dashboard_periods button[data-period="7d"]',
            run: "click",
        },
        {
            content: "Without the shipment of ten days ago, p95 is 117 s",
            trigger: `${RELEASE_ACK_ROW} .o_p95:contains(1m 57s)`,
        },
        {
            content: "Filter on carrier two",
            trigger: ".o_logistics_dashboard_filter.o_filter_carrier",
            run: "selectByLabel Dash Carrier Two",
        },
        {
            content: "Only its shipment's hand-off is left: 120 s",
            trigger: `${RELEASE_ACK_ROW} .o_p95:contains(2m 00s)`,
        },
        {
            content: "And the order awaiting release (carrier one's) is out of the count",
            trigger: '.o_logistics_dashboard_tile[data-code="orders_awaiting_release"] .o_logistics_dashboard_value:contains(0)',
        },
    ],
});
