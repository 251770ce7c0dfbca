import { Component, onWillStart, onWillUpdateProps, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { formatDateTime } from "@web/core/l10n/dates";
import { localization } from "@web/core/l10n/localization";
import { useService } from "@web/core/utils/hooks";
import { useLiveReload } from "@logistics_monitoring/live/live_reload";

const { DateTime } = luxon;

/** Where an entry happened: an icon and a label per kind of system (its lane). */
export const LANES = {
    odoo: { icon: "fa-building-o", label: _t("Odoo") },
    wms: { icon: "fa-cubes", label: _t("WMS / 3PL") },
    carrier: { icon: "fa-truck", label: _t("Carrier") },
    finance: { icon: "fa-money", label: _t("Finance") },
    channel: { icon: "fa-shopping-cart", label: _t("Sales Channel") },
    visibility: { icon: "fa-eye", label: _t("Visibility") },
    exception: { icon: "fa-exclamation-triangle", label: _t("Exception") },
    other: { icon: "fa-plug", label: _t("Partner") },
};

const MARK_BADGES = {
    late: { label: _t("Arrived late"), className: "text-bg-warning" },
    not_owner: { label: _t("Not owner"), className: "text-bg-secondary" },
    ignored: { label: _t("Ignored"), className: "text-bg-secondary" },
};

const STATE_CLASSES = {
    done: "text-bg-success",
    dead: "text-bg-danger",
    rejected: "text-bg-danger",
    retrying: "text-bg-warning",
    processing: "text-bg-info",
    queued: "text-bg-info",
    received: "text-bg-info",
    ignored: "text-bg-secondary",
    discarded: "text-bg-secondary",
};

const SEVERITY_CLASSES = {
    low: "text-bg-secondary",
    medium: "text-bg-info",
    high: "text-bg-warning",
    critical: "text-bg-danger",
};

/**
 * A time of the timeline answer (ISO 8601 in UTC with "Z") in the user's time zone, to the
 * second, in the user's date format, as Odoo's web client shows datetimes (luxon).
 */
export function formatTimelineTime(iso) {
    if (!iso) {
        return "";
    }
    const time = localization.timeFormat.includes("s") ? localization.timeFormat : "HH:mm:ss";
    return formatDateTime(DateTime.fromISO(iso, { zone: "utc" }), {
        format: `${localization.dateFormat} ${time}`,
    });
}

/** A duration in seconds as a person reads it: "2d 3h", "4m 12s", "12s", "-5m". */
export function formatDuration(seconds) {
    const sign = seconds < 0 ? "-" : "";
    let rest = Math.abs(Math.round(seconds));
    const units = [
        ["d", 86400],
        ["h", 3600],
        ["m", 60],
        ["s", 1],
    ];
    const parts = [];
    for (const [unit, size] of units) {
        if (rest >= size || (unit === "s" && !parts.length)) {
            parts.push(`${Math.floor(rest / size)}${unit}`);
            rest %= size;
        }
        if (parts.length === 2) {
            break;
        }
    }
    return sign + parts.join(" ");
}

/**
 * The timeline of the shipment(s) a reference names: every event, message and attempt,
 * exception and Odoo action across systems, in the order it happened, with what is still
 * expected (gaps, dashed) and the hand-off latencies. Data from one RPC method,
 * ``logistics.shipment.get_timeline`` (see its docstring for the shape).
 *
 * ``reload()`` reads it again; the ``logistics_live`` service calls it when events, messages,
 * exceptions or shipments change (``useLiveReload``), so an open timeline follows the shipment.
 */
export class LogisticsTimeline extends Component {
    static template = "logistics_monitoring.Timeline";
    static props = {
        reference: { type: String },
        showShipments: { type: Boolean, optional: true },
    };
    static defaultProps = { showShipments: true };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.lanes = LANES;
        this.state = useState({ data: null, loading: false, error: "", raw: {} });
        onWillStart(() => this.load(this.props.reference));
        // Live: read again (at most once a second) when the suite's records change.
        useLiveReload(
            ["logistics.shipment", "logistics.event", "logistics.message", "logistics.exception"],
            () => this.reload()
        );
        onWillUpdateProps((next) => {
            if (next.reference !== this.props.reference) {
                return this.load(next.reference);
            }
        });
    }

    /** Read the timeline again (same reference), keeping the raw bodies already open. */
    async reload() {
        await this.load(this.props.reference);
    }

    async load(reference) {
        if (!reference) {
            this.state.data = null;
            return;
        }
        this.state.loading = true;
        this.state.error = "";
        try {
            this.state.data = await this.orm.call("logistics.shipment", "get_timeline", [
                reference,
            ]);
        } catch (error) {
            this.state.data = null;
            this.state.error = error.data?.message || error.message || String(error);
        } finally {
            this.state.loading = false;
        }
    }

    get data() {
        return this.state.data;
    }

    get shipmentNames() {
        const names = {};
        for (const shipment of this.data?.shipments || []) {
            names[shipment.id] = shipment.name;
        }
        return names;
    }

    get manyShipments() {
        return (this.data?.shipments || []).length > 1;
    }

    /** Hand-offs by the milestone they end at: "+4m 12s after Released". */
    get handoffsByEnd() {
        const map = {};
        for (const handoff of this.data?.handoffs || []) {
            map[`${handoff.shipment_id}-${handoff.to_code}-${handoff.to_at}`] = handoff;
        }
        return map;
    }

    handoffOf(entry) {
        if (entry.kind !== "event") {
            return null;
        }
        return this.handoffsByEnd[`${entry.shipment_id}-${entry.type_code}-${entry.at}`] || null;
    }

    laneOf(entry) {
        if (entry.kind === "exception") {
            return "exception";
        }
        if (entry.kind === "event") {
            return LANES[entry.source.kind] ? entry.source.kind : "other";
        }
        if (entry.odoo_action || entry.direction === "outbound") {
            return "odoo";
        }
        return LANES[entry.backend.kind] ? entry.backend.kind : "other";
    }

    laneLabel(entry) {
        const lane = this.laneOf(entry);
        if (entry.kind === "event" && entry.source.name && lane !== "odoo") {
            return entry.source.name;
        }
        if (entry.kind === "message" && entry.direction === "inbound" && entry.backend.name) {
            return entry.backend.name;
        }
        return LANES[lane].label;
    }

    markBadges(entry) {
        const badges = [];
        for (const mark of entry.marks || []) {
            if (mark === "duplicate") {
                badges.push({
                    key: mark,
                    label: _t("Duplicate ×%s", entry.duplicate_count),
                    className: "text-bg-light border",
                    title: _t("Sent again %s time(s) after it was stored: absorbed", entry.duplicate_count),
                });
            } else if (MARK_BADGES[mark]) {
                badges.push({ key: mark, ...MARK_BADGES[mark], title: "" });
            }
        }
        return badges;
    }

    stateClass(state) {
        return STATE_CLASSES[state] || "text-bg-light";
    }

    severityClass(severity) {
        return SEVERITY_CLASSES[severity] || "text-bg-light";
    }

    formatTime(iso) {
        return formatTimelineTime(iso);
    }

    formatDuration(seconds) {
        return formatDuration(seconds);
    }

    rawState(entry) {
        return this.state.raw[entry.key];
    }

    async toggleRaw(entry) {
        const current = this.state.raw[entry.key];
        if (current) {
            current.open = !current.open;
            return;
        }
        this.state.raw[entry.key] = { open: true, loading: true, parts: [], error: "" };
        const raw = this.state.raw[entry.key];
        try {
            const answer = await this.orm.call("logistics.shipment", "get_timeline_raw", [
                entry.model,
                entry.res_id,
            ]);
            raw.parts = answer.parts;
        } catch (error) {
            raw.error = error.data?.message || error.message || String(error);
        } finally {
            raw.loading = false;
        }
    }

    openRecord(model, resId) {
        if (!model || !resId) {
            return;
        }
        return this.action.doAction({
            type: "ir.actions.act_window",
            res_model: model,
            res_id: resId,
            views: [[false, "form"]],
            target: "current",
        });
    }
}
