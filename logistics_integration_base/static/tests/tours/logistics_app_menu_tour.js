import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("logistics_app_menu", {
    url: "/odoo",
    steps: () => [
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
            content: "The navbar shows the Logistics app",
            trigger: '.o_menu_brand:contains("Logistics")',
        },
        {
            content: "Open Operations",
            trigger: 'button[data-menu-xmlid="logistics_integration_base.menu_logistics_operations"]',
            run: "click",
        },
        {
            content: "Open the shipments (the app's home may be another addon's dashboard)",
            trigger: '.o-dropdown-item[data-menu-xmlid="logistics_integration_base.menu_logistics_shipments"]',
            run: "click",
        },
        {
            content: "The shipment list shows the shipments",
            trigger: '.o_list_view .o_data_cell:contains("SHP/")',
            run: "click",
        },
        {
            content: "Open the shipment's events tab",
            trigger: '.o_form_view .o_notebook .nav-link:contains("Events")',
            run: "click",
        },
        {
            content: "The shipment form shows its events",
            trigger: '.o_form_view .o_notebook .o_field_one2many[name="event_ids"] .o_data_row',
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
            content: "The board shows the exception being worked, in its column",
            trigger: '.o_kanban_group:contains("In Progress") .o_kanban_record:contains("could not find the address")',
        },
    ],
});
