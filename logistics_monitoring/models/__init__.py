# The rollups' parent first: a model's _inherit must be in the registry before it.
from . import logistics_rollup_dimensions

# isort: split
from . import (
    logistics_alert,
    logistics_alert_digest,
    logistics_alert_history,
    logistics_alert_notification,
    logistics_alert_rule,
    logistics_alert_rule_evaluation,
    logistics_alert_silence,
    logistics_backend_alert,
    logistics_counter_day,
    logistics_dashboard,
    logistics_dashboard_naive,
    logistics_event_hour,
    logistics_handoff,
    logistics_handoff_bucket,
    logistics_live,
    logistics_metric,
    logistics_metric_indexes,
    logistics_metric_scrape,
    logistics_shipment,
    logistics_sla_day,
)
