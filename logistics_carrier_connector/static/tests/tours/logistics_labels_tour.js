import { registry } from "@web/core/registry";

// A shipment of two packages, each with its label: a Logistics User sees each package's
// tracking number and status, and opens the labels as one PDF (not the attachment's form).
registry.category("web_tour.tours").add("logistics_carrier_labels", {
    steps: () => [
        {
            content: "Open the shipment's packages",
            trigger: '.o_form_view .o_notebook a.nav-link:contains("Packages")',
            run: "click",
        },
        {
            content: "The first package, its tracking number and status",
            trigger: '.o_field_one2many[name="package_ids"] .o_data_row:contains("PKG-A"):contains("TRK-A"):contains("Delivered")',
        },
        {
            content: "The second package, still in transit",
            trigger: '.o_field_one2many[name="package_ids"] .o_data_row:contains("PKG-B"):contains("TRK-B"):contains("In Transit")',
        },
        {
            content: "Each package has its label button",
            trigger: '.o_field_one2many[name="package_ids"] .o_data_row:contains("PKG-B") button[name="action_open_label"]',
        },
        {
            content: "Open every label as one PDF",
            trigger: '.o_form_view .o_form_statusbar button[name="action_open_labels"]',
            run: "click",
        },
        {
            content: "The shipment stays on screen (the PDF opens in a new tab)",
            trigger: '.o_form_view .o_form_statusbar button[name="action_open_labels"]',
        },
    ],
});
