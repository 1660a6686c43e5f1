"""Standard Webhooks verification (what BigCommerce documents for signed deliveries).

Signed content is ``"{webhook-id}.{webhook-timestamp}.{raw body}"``, HMAC-SHA256, base64; the
``webhook-signature`` header holds space-separated ``v1,<base64>`` entries (several during key
rotation). BigCommerce's samples hand the library ``base64(CLIENT_SECRET)``, i.e. the HMAC key is
the app's client secret itself; a secret in the ``whsec_<base64>`` form is base64-decoded instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class SignatureError(Exception):
    """The delivery's Standard Webhooks headers do not verify; the message never carries a secret."""


def signing_key(secret: str) -> bytes:
    """The HMAC key for ``secret``: ``whsec_<base64>`` is decoded, a raw client secret is used as is."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("the whsec_ signing secret is not valid base64") from None
    return secret.encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature entry for one message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> int:
    """Check the signature and timestamp (``headers`` keys lower-case); returns the timestamp or raises."""
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not stamp or not signatures:
        raise SignatureError("incomplete Standard Webhooks headers (webhook-id, -timestamp, -signature)")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if timestamp < current - tolerance_seconds:
        raise SignatureError("webhook-timestamp is too old")
    if timestamp > current + tolerance_seconds:
        raise SignatureError("webhook-timestamp is too new")
    expected = sign(secret, msg_id, timestamp, body).partition(",")[2].encode("ascii")
    for entry in signatures.split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode("ascii", "replace"), expected):
            return timestamp
    raise SignatureError("no webhook-signature entry matches the body")
