from . import (
    test_history_generator,
    test_live,
    test_live_ui,
    test_timeline_queries,
    test_timeline_rpc,
    test_timeline_ui,
)
