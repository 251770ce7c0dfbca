import { registry } from "@web/core/registry";

// A WMS backend's form: what went through it, the webhook URL to give the WMS, and Test
// Connection, which pings the WMS (the sandbox) and says how it answered.
registry.category("web_tour.tours").add("logistics_wms_backend_form", {
    steps: () => [
        {
            content: "The form counts the backend's messages",
            trigger: '.o_control_panel button[name="action_view_messages"]:contains("2")',
        },
        {
            content: "The webhook URL to give the WMS is there to copy",
            trigger: '.o_form_view .o_field_CopyClipboardChar[name="webhook_url"]:contains("/logistics/webhook/tour_wms")',
        },
        {
            content: "Test the connection",
            trigger: '.o_form_view .o_form_statusbar button[name="action_test_connection"]',
            run: "click",
        },
        {
            content: "The WMS answered, with the status and latency",
            trigger: '.o_notification:contains("/api/ping answered HTTP 200 in")',
        },
        {
            content: "Open the backend's dead letters",
            trigger: '.o_control_panel button[name="action_view_dead_letters"]:contains("1")',
            run: "click",
        },
        {
            content: "The dead letter is listed, its operation in words",
            trigger: '.o_list_view .o_data_row:contains("Release the order to the WMS")',
        },
    ],
});
