from . import test_live, test_live_ui
