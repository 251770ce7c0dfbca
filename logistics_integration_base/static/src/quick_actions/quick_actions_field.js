import { Component } from "@odoo/owl";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { DropdownItem } from "@web/core/dropdown/dropdown_item";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

/**
 * The quick-action menu of an exception card: the actions that
 * ``logistics.exception._board_actions`` offers on the record (connectors add theirs there),
 * run through ``action_board``, which checks them again on the server.
 */
export class QuickActionsField extends Component {
    static template = "logistics_integration_base.QuickActionsField";
    static components = { Dropdown, DropdownItem };
    static props = { ...standardFieldProps };

    setup() {
        // Unprotected services: a live update may re-render the board (and destroy this card's
        // component) while the action runs; the action must still complete.
        this.orm = this.env.services.orm;
        this.action = this.env.services.action;
    }

    get actions() {
        return this.props.record.data[this.props.name] || [];
    }

    async run(name) {
        const record = this.props.record;
        const result = await this.orm.call(record.resModel, "action_board", [[record.resId], name]);
        const reload = () => record.model.load();
        if (result && typeof result === "object") {
            await this.action.doAction(result, { onClose: reload });
        } else {
            await reload();
        }
    }
}

registry.category("fields").add("logistics_quick_actions", {
    component: QuickActionsField,
    supportedTypes: ["json"],
});
