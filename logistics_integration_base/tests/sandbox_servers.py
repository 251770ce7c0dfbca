"""The partner sandboxes of the repository (tests/sandboxes: real HTTP servers on 127.0.0.1 that
behave like EasyPost, a WMS, a sales channel), for addon tests that talk to them in-process.
They are the repository's, not an addon's: found beside the addons, as the end-to-end tests
use them."""

import importlib
import sys
from pathlib import Path

REPOSITORY_TESTS = Path(__file__).resolve().parents[2] / "tests"


def sandbox_class(module, name):
    """The sandbox class ``name`` of ``tests/sandboxes/<module>.py``, e.g.
    ``sandbox_class("carrier", "CarrierSandbox")``.

    :raises ImportError: the repository's tests/sandboxes is not beside the addons
    """
    if not (REPOSITORY_TESTS / "sandboxes" / f"{module}.py").is_file():
        raise ImportError(f"no partner sandbox {module!r} in {REPOSITORY_TESTS / 'sandboxes'}")
    if str(REPOSITORY_TESTS) not in sys.path:
        sys.path.append(str(REPOSITORY_TESTS))
    return getattr(importlib.import_module(f"sandboxes.{module}"), name)
