import { Component } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";
import { LogisticsTimeline } from "./timeline";

/**
 * The timeline of the shipment a form shows: ``<widget name="logistics_timeline"/>`` in a
 * ``logistics.shipment`` form. It asks by the shipment's correlation id, which names this
 * shipment only.
 */
export class LogisticsTimelineWidget extends Component {
    static template = "logistics_monitoring.TimelineWidget";
    static components = { LogisticsTimeline };
    static props = { ...standardWidgetProps };

    get reference() {
        return this.props.record.resId ? this.props.record.data.correlation_id || "" : "";
    }
}

registry.category("view_widgets").add("logistics_timeline", {
    component: LogisticsTimelineWidget,
    fieldDependencies: [{ name: "correlation_id", type: "char" }],
});
