from . import (
    test_alert_access,
    test_alert_digest,
    test_alert_rules,
    test_alert_ui,
    test_alert_webhook,
    test_history_generator,
    test_live,
    test_live_ui,
    test_timeline_queries,
    test_timeline_rpc,
    test_timeline_ui,
)
