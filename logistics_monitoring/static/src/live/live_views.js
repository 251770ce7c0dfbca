import { registry } from "@web/core/registry";
import { KanbanController } from "@web/views/kanban/kanban_controller";
import { kanbanView } from "@web/views/kanban/kanban_view";
import { ListController } from "@web/views/list/list_controller";
import { listView } from "@web/views/list/list_view";
import { isModelBusy, useLiveReload } from "./live_reload";

/**
 * Kanban and list views that reload their records when the bus says records of their model
 * changed, keeping the search (filters, grouping), the page and the scroll position: the
 * model loads again with its current configuration and the view re-renders in place.
 * Set with `js_class="logistics_live_kanban"` / `"logistics_live_list"`.
 */
export class LogisticsLiveKanbanController extends KanbanController {
    setup() {
        super.setup();
        useLiveReload([this.props.resModel], () => this.model.load(), {
            isBusy: () => isModelBusy(this.model),
        });
    }
}

export class LogisticsLiveListController extends ListController {
    setup() {
        super.setup();
        useLiveReload([this.props.resModel], () => this.model.load(), {
            isBusy: () => isModelBusy(this.model),
        });
    }
}

registry.category("views").add("logistics_live_kanban", {
    ...kanbanView,
    Controller: LogisticsLiveKanbanController,
});
registry.category("views").add("logistics_live_list", {
    ...listView,
    Controller: LogisticsLiveListController,
});
