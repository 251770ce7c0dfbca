import { registry } from "@web/core/registry";

// A mapping_missing exception (an event for a shipment Odoo doesn't know): its suggested
// actions say "replay", so the form offers Replay; the replay wizard takes a reason, and the
// replay is a new message whose form reads in words, with its payload indented.
registry.category("web_tour.tours").add("logistics_exception_replay", {
    steps: () => [
        {
            content: "The exception suggests a replay",
            trigger: '.o_form_view .o_field_widget[name="suggested_actions"]:contains("replay")',
        },
        {
            content: "Replay its dead message",
            trigger: '.o_form_view .o_form_statusbar button[name="action_replay_messages"]',
            run: "click",
        },
        {
            content: "The wizard holds the exception's message",
            trigger: '.modal .o_field_widget[name="message_ids"] .o_tag:contains("webhook #")',
        },
        {
            content: "Say why",
            trigger: '.modal .o_field_widget[name="reason"] textarea',
            run: "edit The shipment exists now",
        },
        {
            content: "Replay",
            trigger: '.modal-footer button[name="action_replay"]',
            run: "click",
        },
        {
            content: "The replay is listed, its operation in words",
            trigger: '.o_list_view .o_data_row .o_data_cell:contains("Webhook (one event)")',
            run: "click",
        },
        {
            content: "Its form shows where it comes from",
            trigger: '.o_form_view .o_field_widget[name="replay_of_id"]:contains("webhook #")',
        },
        {
            content: "Open its payload",
            trigger: '.o_form_view .o_notebook a.nav-link:contains("Payload")',
            run: "click",
        },
        {
            content: "The payload is shown as JSON, the event's shipment reference in it",
            trigger: '.o_form_view .o_field_widget[name="payload_pretty"]:contains("SHP/NOWHERE/1")',
        },
    ],
});
