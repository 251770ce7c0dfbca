import { registry } from "@web/core/registry";

// An integration admin sets how often a production backend must succeed (issue 15 §2): the
// field beside the last success on the backend's Reliability tab, which /logistics/health's
// backends check compares with.
registry.category("web_tour.tours").add("logistics_backend_expected_success", {
    url: "/odoo/action-logistics_integration_base.logistics_backend_action",
    steps: () => [
        {
            content: "Open the production carrier",
            trigger: '.o_data_row:contains("Tour Production Carrier") td[name="name"]',
            run: "click",
            // The first UI test of a fresh database may wait for the lazy bundles.
            timeout: 60000,
        },
        {
            content: "Open the Reliability tab",
            trigger: '.o_notebook .nav-link:contains("Reliability")',
            run: "click",
        },
        {
            content: "Expect a success every 15 minutes",
            trigger: '.o_field_widget[name="expected_success_interval"] input',
            run: "edit 15",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Saved",
            trigger: ".o_form_saved",
        },
    ],
});
