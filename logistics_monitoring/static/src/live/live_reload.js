import { onWillUnmount } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { useService } from "@web/core/utils/hooks";

/** At most one reload per this many milliseconds, however many notifications arrive. */
export const LIVE_RELOAD_INTERVAL = 1000;

/**
 * Calls `reload()` when a `logistics_live` notification names one of `models`: at once after
 * a quiet second, else once at the end of the current second (notifications in between are
 * folded into that one reload). While `isBusy()` (a row being edited, records selected), the
 * reload waits, and is tried again a second later.
 *
 * @param {string[]} models model names, e.g. ["logistics.shipment"]
 * @param {() => Promise} reload
 * @param {{ isBusy?: () => boolean }} [options]
 */
export function useLiveReload(models, reload, { isBusy = () => false } = {}) {
    const live = useService("logistics_live");
    let timer = null;
    let lastReload = 0;
    let mounted = true;

    function schedule(delay) {
        if (timer === null) {
            timer = browser.setTimeout(run, delay);
        }
    }

    async function run() {
        timer = null;
        if (!mounted) {
            return;
        }
        if (isBusy()) {
            schedule(LIVE_RELOAD_INTERVAL);
            return;
        }
        lastReload = Date.now();
        await reload();
    }

    const unsubscribe = live.subscribe((payload) => {
        if (models.some((model) => payload[model]?.length)) {
            schedule(Math.max(0, lastReload + LIVE_RELOAD_INTERVAL - Date.now()));
        }
    });
    onWillUnmount(() => {
        mounted = false;
        unsubscribe();
        browser.clearTimeout(timer);
        timer = null;
    });
}

/**
 * Whether reloading a list or kanban model now would get in the user's way: a record being
 * edited (its changes would be lost) or records selected for an action.
 */
export function isModelBusy(model) {
    const root = model.root;
    return Boolean(root && (root.editedRecord || root.selection?.length));
}
