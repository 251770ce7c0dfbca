from odoo import models
from odoo.http import request
from odoo.tools import SQL

from .json_text import storable_problem

DEFAULT_WEBHOOK_LIMIT = 1_048_576


def read_at_most(stream, size):
    """Up to ``size`` bytes of ``stream``, read in as many calls as it takes (a de-chunking
    input gives one chunk a call), never more."""
    parts, read = [], 0
    while read < size:
        part = stream.read(size - read)
        if not part:
            break
        parts.append(part)
        read += len(part)
    return b"".join(parts)


class IrHttp(models.AbstractModel):
    _inherit = "ir.http"

    @classmethod
    def _pre_dispatch(cls, rule, args):
        if rule.endpoint.routing.get("logistics_raw_body"):
            cls._read_webhook_body(args.get("code"))
        return super()._pre_dispatch(rule, args)

    @classmethod
    def _read_webhook_body(cls, code):
        """Read a webhook's body once, at most the backend's size limit plus one byte, before
        anything else reads it; ``get_data()`` then returns those bytes.

        - Memory stays bounded: werkzeug 2.2's ``get_data`` reads a chunked body (no
          Content-Length) in full, and ``max_content_length`` bounds only form parsing. A body
          whose Content-Length is over the limit is not read at all (the controller answers
          413 from the header).
        - The signature is over the raw bytes: Odoo's dispatcher parses a form content type
          (application/x-www-form-urlencoded) before the controller runs, which would leave
          nothing to read; werkzeug parses the form from the bytes read here instead.

        Odoo's request wrapper hides the input stream, so this reads werkzeug's own request
        (``_HTTPRequest__wrapped``): werkzeug keeps what ``get_data`` read in
        ``_cached_data``, which also outlives Odoo's retries of a handler.
        """
        wrapped = request.httprequest._HTTPRequest__wrapped
        if getattr(wrapped, "_cached_data", None) is not None:
            return  # read already (a retry after a serialization failure)
        limit = DEFAULT_WEBHOOK_LIMIT
        if isinstance(code, str) and not storable_problem(code):
            request.env.cr.execute(
                SQL(
                    "SELECT webhook_max_bytes FROM logistics_backend WHERE code = %s AND active",
                    code,
                )
            )
            row = request.env.cr.fetchone()
            limit = row[0] if row and row[0] else DEFAULT_WEBHOOK_LIMIT
        length = wrapped.content_length
        if length is not None and length > limit:
            return
        wrapped._cached_data = read_at_most(wrapped.stream, limit + 1)
