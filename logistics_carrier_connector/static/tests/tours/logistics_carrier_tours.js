import { registry } from "@web/core/registry";

// A label purchase the carrier never answered: a Logistics Manager checks the carrier, marks
// it failed on the shipment, then finds the label_failed exception and its one-click reroute.
registry.category("web_tour.tours").add("logistics_carrier_label_purchase", {
    steps: () => [
        {
            content: "Open the shipment's label purchases",
            trigger: '.o_form_view .o_notebook a.nav-link:contains("Label Purchases")',
            run: "click",
        },
        {
            content: "The purchase's outcome is unknown",
            trigger: '.o_field_one2many[name="label_purchase_ids"] .o_data_row:contains("Outcome unknown")',
        },
        {
            content: "Mark it failed",
            trigger: '.o_field_one2many[name="label_purchase_ids"] .o_data_row button[name="action_mark_failed"]',
            run: "click",
        },
        {
            content: "Confirm that the carrier sold no label",
            trigger: '.modal-footer .btn-primary',
            run: "click",
        },
        {
            content: "The purchase is failed",
            trigger: '.o_field_one2many[name="label_purchase_ids"] .o_data_row:contains("Failed")',
        },
        {
            content: "Open the app switcher",
            trigger: ".o_navbar_apps_menu button",
            run: "click",
        },
        {
            content: "Enter the Logistics app",
            trigger: '.o_app[data-menu-xmlid="logistics_integration_base.menu_logistics_root"]',
            run: "click",
        },
        {
            content: "Open Operations",
            trigger: 'button[data-menu-xmlid="logistics_integration_base.menu_logistics_operations"]',
            run: "click",
        },
        {
            content: "Open the exception board",
            trigger: '.o-dropdown-item[data-menu-xmlid="logistics_integration_base.menu_logistics_exceptions"]',
            run: "click",
        },
        {
            content: "Open the label_failed card",
            trigger: '.o_kanban_record:contains("No label for SHP/TOUR/1")',
            run: "click",
        },
        {
            content: "The exception offers the alternate carrier",
            trigger: '.o_form_view button[name="action_route_alternate_carrier"]',
        },
    ],
});

// An EasyPost status no mapping row maps: its exception lists the messages waiting for the
// row, and the mapping table is one menu away.
registry.category("web_tour.tours").add("logistics_carrier_unmapped_status", {
    steps: () => [
        {
            content: "Open the waiting messages",
            trigger: '.o_form_view .o_notebook a.nav-link:contains("Waiting Messages")',
            run: "click",
        },
        {
            content: "The message waits for its mapping row",
            trigger: '.o_field_one2many[name="waiting_message_ids"] .o_data_row:contains("evt_tour_1")',
        },
        {
            content: "Open the app switcher",
            trigger: ".o_navbar_apps_menu button",
            run: "click",
        },
        {
            content: "Enter the Logistics app",
            trigger: '.o_app[data-menu-xmlid="logistics_integration_base.menu_logistics_root"]',
            run: "click",
        },
        {
            content: "Open Configuration",
            trigger: 'button[data-menu-xmlid="logistics_integration_base.menu_logistics_configuration"]',
            run: "click",
        },
        {
            content: "Open the carrier status mapping",
            trigger: '.o-dropdown-item[data-menu-xmlid="logistics_carrier_connector.menu_logistics_carrier_status_map"]',
            run: "click",
        },
        {
            content: "The mapping rows are listed",
            trigger: '.o_list_view .o_data_row:contains("out_for_delivery")',
        },
    ],
});
