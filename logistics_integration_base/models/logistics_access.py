"""Who may act: one place for the group checks of the methods that call a partner or change
what the suite does (DESIGN §6). Views hide buttons; these checks hold whoever calls the method
(a browser, XML-RPC, JSON-2)."""

from odoo.exceptions import AccessError

GROUP_MANAGER = "logistics_integration_base.group_logistics_manager"


def is_manager(env):
    """Whether the user may do a Logistics Manager's action: a Manager, or the suite's own
    code running as superuser (crons, jobs, ``sudo()``)."""
    return env.is_superuser() or env.user.has_group(GROUP_MANAGER)


def check_manager(env, action):
    """Raise AccessError unless the user is a Logistics Manager; the suite's own code running
    as superuser (crons, jobs, ``sudo()``) passes.

    :param action: what is refused, in a person's words ("replay messages")
    :raises AccessError: "Only Logistics Managers can <action>."
    """
    if is_manager(env):
        return
    raise AccessError(env._("Only Logistics Managers can %(action)s.", action=action))


def check_company_member(env, vals_list):
    """Raise AccessError if one of ``vals_list`` puts a record in a company the user doesn't
    belong to (Odoo's record rules check the records a user writes, not where a write puts
    them); the suite's own code running as superuser passes.

    :param vals_list: the values of a create or write (dicts that may hold ``company_id``)
    :raises AccessError: "You can't put a record in a company you don't belong to."
    """
    if env.su:
        return
    allowed = set(env.user.company_ids.ids)
    if any(vals.get("company_id") and vals["company_id"] not in allowed for vals in vals_list):
        raise AccessError(env._("You can't put a record in a company you don't belong to."))
