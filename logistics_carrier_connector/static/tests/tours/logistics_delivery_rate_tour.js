import { registry } from "@web/core/registry";

// A salesperson adds the sandbox carrier's shipping method to a quotation with Add shipping:
// gets the live rate (the carrier's cost plus the method's margin), adds it, confirms the order.
registry.category("web_tour.tours").add("logistics_delivery_rate", {
    steps: () => [
        {
            content: "Add shipping to the quotation",
            trigger: '.o_form_view button[name="action_open_delivery_wizard"]',
            run: "click",
        },
        {
            content: "Look for the sandbox carrier's shipping method",
            trigger: '.modal .o_field_widget[name="carrier_id"] input',
            run: "edit Sandbox Carrier",
        },
        {
            content: "Pick it",
            trigger: '.o-autocomplete--dropdown-item a:contains("Sandbox Carrier (EasyPost)")',
            run: "click",
        },
        {
            content: "Get the rate from the carrier",
            trigger: '.modal button[name="update_price"]',
            run: "click",
        },
        {
            content: "The cost is the carrier's cheapest rate plus 10 %",
            trigger: '.modal .o_field_widget[name="display_price"]:contains("8.11")',
        },
        {
            content: "Add the shipping line",
            trigger: '.modal-footer button[name="button_confirm"]:contains("Add")',
            run: "click",
        },
        {
            content: "The order has its shipping line at that price",
            trigger:
                '.o_field_one2many[name="order_line"] .o_data_row:contains("Sandbox Carrier (EasyPost)"):contains("8.11")',
        },
        {
            content: "Confirm the order",
            trigger: '.o_form_view .o_statusbar_buttons button[name="action_confirm"]',
            run: "click",
        },
        {
            content: "The quotation is a sales order",
            trigger: '.o_statusbar_status button.o_arrow_button_current:contains("Sales Order")',
        },
    ],
});
