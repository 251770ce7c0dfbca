import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

/** An event from the tour's WMS backend, sent as an external system would (ingest_events). */
function ingest(type, shipmentRef, eventId) {
    return rpc("/web/dataset/call_kw/logistics.event/ingest_events", {
        model: "logistics.event",
        method: "ingest_events",
        args: [
            "tour_live_wms",
            [
                {
                    type,
                    event_id: eventId,
                    occurred_at: new Date().toISOString(),
                    shipment_ref: shipmentRef,
                },
            ],
        ],
        kwargs: {},
    });
}

/** A full page load would drop this mark: the views must update in place. */
function markPage() {
    window.__logisticsLivePage = true;
}

function checkSamePage() {
    if (!window.__logisticsLivePage) {
        throw new Error("the page was reloaded: the view did not update in place");
    }
}

registry.category("web_tour.tours").add("logistics_live_updates", {
    steps: () => [
        {
            content: "The exception board is open, on the open exceptions",
            trigger: ".o_kanban_view .o_searchview_facet:contains(On the Board)",
            run: markPage,
        },
        {
            content: "No card yet for the unknown shipment: a WMS sends an event for it",
            trigger: ".o_kanban_renderer:not(:has(.o_kanban_record:contains(SHP/LIVE/NOPE)))",
            run: async () => {
                await ingest("picked", "SHP/LIVE/NOPE", "tour-live-unknown");
            },
        },
        {
            content: "Its exception appears on the open board, without a reload",
            trigger: ".o_kanban_record:contains(SHP/LIVE/NOPE)",
            run: checkSamePage,
        },
        {
            content: "The board kept its filter",
            trigger: ".o_kanban_view .o_searchview_facet:contains(On the Board)",
        },
        {
            content: "Open Operations",
            trigger:
                'button[data-menu-xmlid="logistics_integration_base.menu_logistics_operations"]',
            run: "click",
        },
        {
            content: "Open the shipments",
            trigger:
                '.o-dropdown-item[data-menu-xmlid="logistics_integration_base.menu_logistics_shipments"]',
            run: "click",
        },
        {
            content: "The shipment has no milestone yet: the WMS reports it picked",
            trigger: ".o_list_view .o_data_row:contains(SHP/LIVE/1):not(:contains(Picked))",
            run: async () => {
                await ingest("picked", "SHP/LIVE/1", "tour-live-picked");
            },
        },
        {
            content: "The list shows the new status, without a reload",
            trigger: ".o_list_view .o_data_row:contains(SHP/LIVE/1):contains(Picked)",
            run: checkSamePage,
        },
    ],
});
