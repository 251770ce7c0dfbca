from . import logistics_replay_wizard
