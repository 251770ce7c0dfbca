"""XML-RPC answers carry every JSON value, as JSON-RPC and JSON-2 answers do.

Odoo 19 writes XML-RPC answers with ``OdooMarshaller(allow_none=False)``
(odoo/addons/rpc/controllers/xmlrpc.py), which refuses two values that the core XML-RPC
specification (https://xmlrpc.com/spec.md) has no type for: ``None`` ("cannot marshal None
unless allow_none is enabled") and integers outside 32 bits ("int exceeds XML-RPC limits").
A Json field holds both as a matter of course (an EasyPost event's payload is full of
``null``; a timestamp in milliseconds is past 2^31), so ``read`` and ``search_read`` of such a
record faulted, after the work was done.

They are written with the XML-RPC extensions that Python's ``xmlrpc.client`` reads (as do
Apache XML-RPC and xmlrpc-c): ``None`` as ``<nil/>``, an integer past 32 bits as ``<i8>``
(``<biginteger>`` past 64 bits). The value a client gets is then the value a JSON-RPC or JSON-2
client gets. An answer Odoo could already write is written exactly as before: only answers that
faulted change. JSON-RPC and JSON-2 don't use this marshaller.

The rule applies to the whole server process once the addon is loaded, like any change to a
class of Odoo: HTTP requests to ``/xmlrpc`` are served before a database is chosen, so a
per-database controller override would not be used for them.
"""

import xmlrpc.client

from odoo.addons.rpc.controllers.xmlrpc import OdooMarshaller

INT32 = range(xmlrpc.client.MININT, xmlrpc.client.MAXINT + 1)
INT64 = range(-(2**63), 2**63)


def dump_nil(marshaller, value, write):
    """``None`` (JSON ``null``) as the ``<nil/>`` extension."""
    write("<value><nil/></value>")


def dump_int(marshaller, value, write):
    """``<int>`` as before within 32 bits, the ``<i8>`` / ``<biginteger>`` extensions past."""
    if value in INT32:
        xmlrpc.client.Marshaller.dump_long(marshaller, value, write)
        return
    tag = "i8" if value in INT64 else "biginteger"
    write(f"<value><{tag}>{int(value)}</{tag}></value>\n")


OdooMarshaller.dispatch[type(None)] = dump_nil
OdooMarshaller.dispatch[int] = dump_int
