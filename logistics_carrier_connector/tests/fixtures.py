"""EasyPost's recorded API calls (VCR cassettes in shared/fixtures/easypost), read as recorded.

The directory is ``$LOGISTICS_FIXTURES_DIR`` when set (the fixtures root holding ``easypost/``,
or that ``easypost`` directory itself), else the first ``shared/fixtures/easypost`` found beside
one of this file's parent directories (the repository's sibling ``shared/`` in a checkout).
"""

import json
import os
from pathlib import Path

PARTNER = "easypost"


def fixtures_dir():
    configured = os.environ.get("LOGISTICS_FIXTURES_DIR")
    if configured:
        root = Path(configured)
        directory = root / PARTNER if (root / PARTNER).is_dir() else root
        if not directory.is_dir():
            raise FileNotFoundError(f"LOGISTICS_FIXTURES_DIR={configured} is not a directory")
        return directory
    for parent in Path(__file__).resolve().parents:
        directory = parent / "shared" / "fixtures" / PARTNER
        if directory.is_dir():
            return directory
    raise FileNotFoundError(
        f"no shared/fixtures/{PARTNER} directory above {Path(__file__).resolve().parent}; "
        "set LOGISTICS_FIXTURES_DIR to the fixtures directory"
    )


def load_cassette(name):
    """The interactions (request / response dicts) of the recording ``<name>.yaml``."""
    try:
        import yaml  # noqa: PLC0415 - only the recordings need PyYAML, not the addon
    except ImportError:
        raise ImportError(
            "PyYAML is needed to read the EasyPost recordings (pip install PyYAML)"
        ) from None
    path = fixtures_dir() / (name if name.endswith(".yaml") else f"{name}.yaml")
    with path.open(encoding="utf-8") as file:
        cassette = yaml.safe_load(file)
    return cassette["interactions"]


def response_text(interaction):
    """The response body exactly as recorded."""
    return interaction["response"]["body"]["string"]


def response_json(interaction):
    return json.loads(response_text(interaction))


def response_status(interaction):
    return interaction["response"]["status"]["code"]


def request_json(interaction):
    """The request body as recorded, parsed; None for a request without a body."""
    body = interaction["request"]["body"]
    return json.loads(body) if body else None
