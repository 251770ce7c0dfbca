import { registry } from "@web/core/registry";

// A finance person works a carrier invoice's mismatch: finds the invoice with exceptions, reads
// the evidence, disputes the residential surcharge on a commercial address, and sees it in the
// reconciliation report by carrier and month.
registry.category("web_tour.tours").add("logistics_freight_audit", {
    steps: () => [
        {
            content: "The invoice with exceptions stands out in the list",
            trigger: '.o_list_view .o_data_row:contains("INV-TOUR"):contains("Exceptions") td[name="name"]',
            run: "click",
        },
        {
            content: "Its lines: the base freight reconciled, the residential surcharge not",
            trigger: '.o_field_one2many[name="line_ids"] .o_data_row:contains("Residential Surcharge"):contains("Mismatch")',
        },
        {
            content: "Open the lines to work",
            trigger: '.o_menu_sections button:contains("Finance"), .o_menu_sections a:contains("Finance")',
            run: "click",
        },
        {
            content: "Invoice Lines to Work",
            trigger: '.dropdown-item:contains("Invoice Lines to Work")',
            run: "click",
        },
        {
            content: "The evidence says why",
            trigger: '.o_list_view .o_data_row:contains("TRK-TOUR-2"):contains("is a company")',
        },
        {
            content: "Select the residential surcharge",
            trigger: '.o_list_view .o_data_row:contains("TRK-TOUR-2") .o_list_record_selector input',
            run: "click",
        },
        {
            content: "Dispute it with the carrier",
            trigger: '.o_list_view .o_control_panel_actions button:contains("Dispute"), .o_list_buttons button:contains("Dispute"), button[name="action_open_dispute_wizard"]',
            run: "click",
        },
        {
            content: "Say why",
            trigger: '.modal .o_field_widget[name="note"] textarea',
            run: "edit Commercial address: no residential surcharge",
        },
        {
            content: "The expected credit is what was billed over the expected cost",
            trigger: '.modal .o_field_widget[name="credit"] input:value("5.10")',
        },
        {
            content: "Dispute",
            trigger: '.modal button[name="action_dispute"]',
            run: "click",
        },
        {
            content: "Nothing left to work",
            trigger: '.o_list_view:not(:has(.o_data_row:contains("TRK-TOUR-2")))',
        },
        {
            content: "Open the reconciliation report",
            trigger: '.o_menu_sections button:contains("Finance"), .o_menu_sections a:contains("Finance")',
            run: "click",
        },
        {
            content: "Freight Reconciliation",
            trigger: '.dropdown-item:contains("Freight Reconciliation")',
            run: "click",
        },
        {
            content: "The carrier's month: billed, expected, variance and the disputed credit",
            trigger: '.o_list_view .o_data_row:contains("Tour Carrier"):contains("12.60"):contains("7.50"):contains("5.10")',
        },
    ],
});
