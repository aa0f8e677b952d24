"""Who may call the service: a client network allow-list and an optional shared secret.

Immich v3.1.0 sends no credentials of its own (``fetch(new URL('predict', url))``
with no headers; a URL with ``user:pass@`` makes undici's fetch throw
"Request cannot be constructed from a URL that includes credentials", so every
request would fail).  What does work is a secret *path*: with the ML URL set to
``http://gateway:3003/<secret>/`` (trailing slash) Immich calls
``/<secret>/ping`` and ``/<secret>/predict``.  Other clients may send the secret
as ``Authorization: Bearer``, the password of ``Authorization: Basic``,
``X-Api-Key`` or MT Photos' ``api-key`` header.  Bare ``/ping`` stays open for
container health checks; the allow-list applies to everything.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress

from plugin_service.gateway.config import SecurityConfig

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Guard:
    def __init__(self, config: SecurityConfig):
        self.networks: list[Network] = [ipaddress.ip_network(n, strict=False) for n in config.allow]
        self.secret = config.secret.encode()

    def client_allowed(self, host: str | None) -> bool:
        if not self.networks:
            return True
        try:
            address = ipaddress.ip_address((host or "").split("%")[0])
        except ValueError:
            return False  # unix socket or test transport: no address to check
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def authorised(self, path: str, headers: dict[bytes, bytes]) -> bool:
        if not self.secret or path == "/ping":
            return True
        candidates = [headers.get(b"x-api-key", b""), headers.get(b"api-key", b"")]
        candidates += _from_authorization(headers.get(b"authorization", b""))
        prefix = path.split("/", 2)[1].encode() if path.count("/") >= 2 else b""
        candidates.append(prefix)
        # Compare against every candidate so timing does not say which one was close.
        results = [hmac.compare_digest(c, self.secret) for c in candidates]
        return any(results)


def _from_authorization(value: bytes) -> list[bytes]:
    scheme, _, credential = value.strip().partition(b" ")
    if scheme.lower() == b"bearer":
        return [credential.strip()]
    if scheme.lower() == b"basic":
        try:
            user, _, password = base64.b64decode(credential.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return []
        return [password, user]
    return []
