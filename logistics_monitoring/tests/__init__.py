from . import test_timeline_queries, test_timeline_rpc, test_timeline_ui
