from . import adapters
