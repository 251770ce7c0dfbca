import { Component, useState } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { router } from "@web/core/browser/router";
import { registry } from "@web/core/registry";
import { LogisticsTimeline } from "./timeline";

/**
 * Logistics > Operations > Timeline: a search box for any reference of a shipment, and its
 * timeline. The reference is kept in the URL (``?reference=…``), so a timeline can be
 * reloaded, bookmarked and sent to a colleague.
 */
export class LogisticsTimelineAction extends Component {
    static template = "logistics_monitoring.TimelineAction";
    static components = { LogisticsTimeline };
    static props = { "*": true };

    setup() {
        // The URL's text as written: Odoo's router casts a numeric value to a Number, and a
        // tracking number of 22 digits (USPS) would come back as 9.400935530969415e+21.
        const inUrl = new URLSearchParams(browser.location.search).get("reference");
        const reference = String(
            this.props.action?.params?.reference ||
                this.props.action?.context?.reference ||
                inUrl ||
                router.current.reference ||
                ""
        );
        this.state = useState({ query: reference, reference });
        if (reference) {
            this.props.updateActionState?.({ reference });
        }
    }

    search() {
        const reference = (this.state.query || "").trim();
        this.state.reference = reference;
        this.props.updateActionState?.({ reference });
    }
}

registry.category("actions").add("logistics_timeline", LogisticsTimelineAction);
