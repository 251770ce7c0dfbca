import { registry } from "@web/core/registry";

// A fired alert (issue 14 §5): its card on the exception board, its row in the alerts list.
registry.category("web_tour.tours").add("logistics_alert_fired", {
    url: "/odoo/action-logistics_integration_base.logistics_exception_action",
    steps: () => [
        {
            content: "The alert's card is on the board",
            trigger: '.o_kanban_record:contains("Tour dead letters"):contains("tour_alert_wms")',
            // The first UI test of a fresh database may wait for the web client's lazy bundles
            // to be built on a busy machine (measured: over 10 s, the default).
            timeout: 60000,
        },
        {
            content: "Open the Monitoring menu",
            trigger: '.o_main_navbar button:contains("Monitoring")',
            run: "click",
        },
        {
            content: "Open the alerts",
            trigger: '.dropdown-item:contains("Alerts"):not(:contains("Silences"))',
            run: "click",
        },
        {
            content: "The alert fires in the list",
            trigger: '.o_data_row:contains("Tour dead letters"):contains("backend=tour_alert_wms") .o_field_badge:contains("Firing")',
        },
        {
            content: "Open it",
            trigger: '.o_data_row:contains("Tour dead letters") td[name="name"]',
            run: "click",
        },
        {
            content: "Its history shows pending then firing",
            trigger: '.o_field_widget[name="history_ids"] .o_data_row:contains("Pending") ~ .o_data_row:contains("Firing")',
        },
        {
            content: "Its card is linked",
            trigger: '.o_field_widget[name="exception_id"]:contains("Tour dead letters")',
        },
    ],
});
