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
    ],
});
