import { registry } from "@web/core/registry";

/**
 * The notification Odoo's bus carries when monitored records were created or changed
 * (logistics_monitoring/models/logistics_live.py): one per transaction and company, with the
 * payload `{model name: [ids]}`, e.g. `{"logistics.event": [41, 42], "logistics.shipment": [7]}`.
 * Ids only: a listener reads the records again, with the user's own rights.
 */
export const LIVE_NOTIFICATION = "logistics_live/changed";

/**
 * Service `logistics_live`: `subscribe(callback) -> unsubscribe`. The callback gets each
 * notification's payload. The server subscribes the user's websocket to their companies'
 * channels (`ir.websocket._build_bus_channel_list`); this service only listens.
 */
export const logisticsLiveService = {
    dependencies: ["bus_service"],
    start(env, { bus_service }) {
        const callbacks = new Set();
        bus_service.subscribe(LIVE_NOTIFICATION, (payload) => {
            for (const callback of [...callbacks]) {
                callback(payload);
            }
        });
        bus_service.start();
        return {
            /**
             * @param {(payload: Object<string, number[]>) => void} callback
             * @returns {() => void} unsubscribe
             */
            subscribe(callback) {
                callbacks.add(callback);
                return () => callbacks.delete(callback);
            },
        };
    },
};

registry.category("services").add("logistics_live", logisticsLiveService);
