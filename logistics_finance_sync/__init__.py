from . import adapters, models, wizards
