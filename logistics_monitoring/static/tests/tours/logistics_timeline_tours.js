import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("logistics_timeline_shipment_form", {
    steps: () => [
        {
            content: "The statusbar shows the canonical progression, at Label created",
            trigger: '.o_form_view .o_statusbar_status button.o_arrow_button_current:contains("Label created")',
        },
        {
            content: "Open the Timeline tab",
            trigger: '.o_notebook .nav-link:contains("Timeline")',
            run: "click",
        },
        {
            content: "The late milestone reads Arrived late",
            trigger: '.o_logistics_timeline_entry:contains("Packed") .o_mark_late:contains("Arrived late")',
        },
        {
            content: "The pick sent twice carries its duplicate count",
            trigger: '.o_logistics_timeline_entry:contains("Picked") .o_mark_duplicate:contains("Duplicate ×1")',
        },
        {
            content: "The carrier's shipped milestone is marked not owner",
            trigger: '.o_logistics_timeline_entry:contains("Shipped") .o_mark_not_owner',
        },
        {
            content: "The carrier checkpoint shows its location",
            trigger: '.o_logistics_timeline_entry:contains("Label created") .o_logistics_timeline_checkpoint:contains("HOUSTON, TX 77063")',
        },
        {
            content: "Odoo's label purchase shows its attempts",
            trigger: ".o_logistics_timeline_entry.o_odoo_action .o_logistics_timeline_attempts:contains(503)",
        },
        {
            content: "The first carrier scan is an expected step, overdue",
            trigger: '.o_logistics_timeline_gap.o_overdue:contains("In transit"):contains("Overdue")',
        },
        {
            content: "Show the raw body of the label milestone",
            trigger: '.o_logistics_timeline_entry:contains("Label created") .o_logistics_timeline_raw_toggle',
            run: "click",
        },
        {
            content: "The canonical payload is pretty-printed",
            trigger: '.o_logistics_timeline_entry:contains("Label created") pre.o_logistics_timeline_pre:contains("HOUSTON")',
        },
    ],
});

registry.category("web_tour.tours").add("logistics_timeline_menu", {
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
            content: "Open Operations",
            trigger: 'button[data-menu-xmlid="logistics_integration_base.menu_logistics_operations"]',
            run: "click",
        },
        {
            content: "Open the Timeline",
            trigger: '.o-dropdown-item[data-menu-xmlid="logistics_monitoring.menu_logistics_timeline"]',
            run: "click",
        },
        {
            content: "Type a tracking number",
            trigger: "input.o_logistics_timeline_search",
            run: "edit TRK-TIMELINE-1",
        },
        {
            content: "Show its timeline",
            trigger: "button.o_logistics_timeline_search_button",
            run: "click",
        },
        {
            content: "The shipment is found",
            trigger: ".o_logistics_timeline_shipment:contains(TRK-TIMELINE-1)",
        },
        {
            content: "Its entries are shown, Odoo's release among them",
            trigger: '.o_logistics_timeline_entry.o_lane_odoo:contains("Released to warehouse")',
        },
        {
            content: "The URL keeps the reference",
            trigger: '.o_logistics_timeline_entry:contains("Label created")',
            run() {
                if (!window.location.search.includes("reference=TRK-TIMELINE-1")) {
                    throw new Error(`the URL has no reference: ${window.location.href}`);
                }
            },
        },
        {
            content: "An unknown reference is said so",
            trigger: "input.o_logistics_timeline_search",
            run: "edit NO-SUCH-REF",
        },
        {
            content: "Ask again",
            trigger: "button.o_logistics_timeline_search_button",
            run: "click",
        },
        {
            content: "Nothing found, and why",
            trigger: '.o_logistics_timeline_message:contains("No shipment found for NO-SUCH-REF")',
        },
    ],
});

// A link to the timeline of an all-digit tracking number (USPS's, 22 digits): the reference
// stays the text it is, it is not read as a number.
registry.category("web_tour.tours").add("logistics_timeline_digits", {
    steps: () => [
        {
            content: "The search box holds the tracking number as written",
            trigger: "input.o_logistics_timeline_search:value(9400935530969415382369)",
        },
        {
            content: "Its shipment is found",
            trigger: ".o_logistics_timeline_shipment:contains(SHP/DIGITS/1)",
        },
    ],
});
