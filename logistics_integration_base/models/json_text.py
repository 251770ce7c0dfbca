"""JSON as PostgreSQL can store it.

Python's ``json`` accepts more than RFC 8259 and more than PostgreSQL's ``jsonb`` and ``text``
can hold: ``NaN`` and ``Infinity`` (not JSON, RFC 8259 §6), the escape ``\\u0000`` (PostgreSQL
text can't hold NUL), lone surrogate escapes such as ``\\udce9`` (not Unicode text, so not
UTF-8, RFC 8259 §8.2), and, given bytes, UTF-16 or UTF-32 (JSON exchanged between systems must be
UTF-8, RFC 8259 §8.1). Each would reach the database and fail there as a server error; here each
is refused first, with a reason that says what and where.
"""

import json
import math
import re

# How json.dumps (ASCII output) writes NUL and the surrogates.
UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON (RFC 8259 §6: numbers are finite)")


def loads_utf8(raw):
    """Parse a JSON body as bytes, strictly.

    :param raw: the body (bytes)
    :return: the parsed value (dict, list, str, int, float, bool or None)
    :raises ValueError: with the reason, when the body is not UTF-8 (RFC 8259 §8.1; UTF-16 and
        UTF-32 bodies are refused, with or without a byte order mark), is not JSON, holds
        ``NaN`` / ``Infinity``, nests deeper than Python can parse, or holds a value
        PostgreSQL can't store (see :func:`storable_problem`)
    """
    if b"\x00" in raw or raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(
            "the body is not UTF-8 (it holds NUL bytes or a UTF-16 / UTF-32 byte order mark); "
            "JSON must be UTF-8 (RFC 8259 §8.1)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"the body is not UTF-8 (byte {error.start}: {error.reason}); "
            "JSON must be UTF-8 (RFC 8259 §8.1)"
        ) from None
    if text.startswith("\ufeff"):
        raise ValueError("the body starts with a byte order mark (RFC 8259 §8.1: must not)")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValueError("the JSON nests too deeply") from None
    # Valid UTF-8 without NUL bytes can only bring NUL or a surrogate through a \u escape.
    problem = storable_problem(value) if "\\u" in text else None
    if problem:
        raise ValueError(problem)
    return value


def storable_problem(value):
    """Why PostgreSQL (``jsonb``, ``text``) can't store ``value``, or None.

    :param value: a parsed JSON value, or any structure sent over RPC (an event over JSON-RPC
        or XML-RPC, say): only dict, list, str, int, float, bool and None are JSON values
    :return: None, or a reason naming the first offending place as a path, e.g.
        ``"payload.lines[2].sku holds \\u0000 (NUL), which PostgreSQL text can't hold"``
    """
    stack = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            problem = _string_problem(item)
            if problem:
                return f"{path or 'the value'} {problem}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{path or 'the value'} is {item!r}, which is not JSON (RFC 8259 §6)"
        elif isinstance(item, dict):
            for key, member in item.items():
                if not isinstance(key, str):
                    return f"a key of {path or 'the object'} is not a string: {key!r}"
                key_problem = _string_problem(key)
                if key_problem:
                    return f"a key of {path or 'the object'} {key_problem}"
                stack.append((f"{path}.{key}" if path else key, member))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}[{index}]", member) for index, member in enumerate(item))
        elif item is not None and not isinstance(item, bool | int):
            # e.g. an XML-RPC dateTime or base64 value inside a payload
            return f"{path or 'the value'} is a {type(item).__name__}, which is not a JSON value"
    return None


def _string_problem(text):
    if "\x00" in text:
        return "holds \\u0000 (NUL), which PostgreSQL text can't hold"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:  # only surrogates can't be encoded
        return (
            f"holds the lone surrogate \\u{ord(text[error.start]):04x}, which is not Unicode "
            "text (RFC 8259 §8.2)"
        )
    return None


def is_storable(value):
    """A fast test, at the speed of ``json.dumps``, that ``value`` holds nothing
    :func:`storable_problem` would find. False means "look closer": a string holding a
    backslash followed by ``u0000`` is a false alarm that :func:`storable_problem` clears."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (ValueError, TypeError):  # NaN / Infinity, or a value that is not JSON
        return False
    return not UNSTORABLE_ESCAPE.search(text)


def printable(raw, limit):
    """Up to ``limit`` bytes of a body as text PostgreSQL can store, for people to read:
    invalid UTF-8 bytes as ``\\xNN`` escapes, NUL as ``\\x00``. Not lossless: the bytes
    themselves are kept apart (``logistics.message.rejected_body``)."""
    return raw[:limit].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def pretty_json(value):
    """A JSON value as a person reads it: indented by two spaces, keys in their order,
    non-ASCII characters as they are; False when there is no value (None)."""
    if value is None:
        return False
    return json.dumps(value, indent=2, ensure_ascii=False)


def pretty_json_text(text):
    """A stored body as a person reads it: indented when it is JSON (``pretty_json``), else
    the text as it is (an HTML error page, a CSV file, a refused body)."""
    if not text:
        return text or False
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return pretty_json(value) if isinstance(value, dict | list) else text
