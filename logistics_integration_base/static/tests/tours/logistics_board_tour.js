import { registry } from "@web/core/registry";

// The exception board's quick actions (issue 13): assign a card to me from its "Act" menu.
registry.category("web_tour.tours").add("logistics_board_assign_to_me", {
    url: "/odoo/action-logistics_integration_base.logistics_exception_action",
    steps: () => [
        {
            content: "The card counts the calls and shipments of its root cause",
            trigger: '.o_kanban_record:contains("Tour Carrier refuses our credentials") .o_logistics_occurrences:contains("3 calls"):contains("2 shipments")',
        },
        {
            content: "Open the card's quick actions",
            trigger: '.o_kanban_record:contains("Tour Carrier refuses our credentials") .o_logistics_quick_actions',
            run: "click",
        },
        {
            content: "Assign it to me",
            trigger: ".o-dropdown-item.o_logistics_quick_action_action_assign_to_me",
            run: "click",
        },
        {
            content: "The card shows me as its assignee",
            trigger: '.o_kanban_record:contains("Tour Carrier refuses our credentials") .o_field_many2one_avatar_user img[data-src*="/res.users/"], .o_kanban_record:contains("Tour Carrier refuses our credentials") .o_m2o_avatar img',
        },
        {
            content: "…and no longer offers to assign it to me",
            trigger: '.o_kanban_record:contains("Tour Carrier refuses our credentials") .o_logistics_quick_actions',
            run: "click",
        },
        {
            content: "Only the other actions are left",
            trigger: ".o-dropdown-item.o_logistics_quick_action_action_open_snooze",
        },
        {
            content: "Assign to me is gone",
            trigger: "body:not(:has(.o_logistics_quick_action_action_assign_to_me))",
        },
    ],
});
