from . import (
    logistics_alert,
    logistics_alert_digest,
    logistics_alert_history,
    logistics_alert_notification,
    logistics_alert_rule,
    logistics_alert_rule_evaluation,
    logistics_alert_silence,
    logistics_backend_alert,
    logistics_event_alert,
    logistics_live,
    logistics_metric,
    logistics_shipment,
)
