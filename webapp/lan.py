"""This machine as a phone on the same network sees it: its LAN addresses and names, and a QR code to scan.

The addresses are found without sending anything: connect() on a UDP socket only asks the kernel which
local address would route towards a private address (no packet leaves), and getaddrinfo of the host name
reads what the system already knows. Loopback and unspecified addresses are left out: a phone cannot reach
them. The QR code is text (half blocks: two rows of modules per line) for the terminal and SVG for the
/connect page, both from segno.
"""

from __future__ import annotations

import io
import ipaddress
import re
import socket
from collections.abc import Iterable

import segno

# Addresses a LAN route would lead to; connect() on UDP picks the local address for each without sending.
_PROBES = ("10.254.254.254", "192.168.254.254", "172.31.254.254")
# A DNS label, as a certificate and a Host header may hold it.
HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


def _usable(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (ip.is_loopback or ip.is_unspecified or ip.is_multicast)


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses a phone on the LAN can reach, best first (where the routes lead)."""
    found: list[str] = []
    for probe in _PROBES:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.connect((probe, 9))
                found.append(udp.getsockname()[0])
            except OSError:
                continue  # no route there: no network, or none of that kind
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        infos = []
    found.extend(str(info[4][0]) for info in infos)
    return [address for address in dict.fromkeys(found) if _usable(address)]


def machine_names() -> list[str]:
    """This machine's host name, and its mDNS form (NAME.local) when the name has no domain."""
    name = socket.gethostname().lower()
    if not HOST_NAME.match(name) or name == "localhost":
        return []
    return [name] if "." in name else [name, f"{name}.local"]


def check_name(name: str) -> str:
    """A --name value as a certificate and a Host header hold it (lower case), or ValueError."""
    lowered = name.strip().lower().rstrip(".")
    if not HOST_NAME.match(lowered):
        raise ValueError(f"{name!r} is not a host name; give a name such as mybox.lan or phone.test")
    return lowered


def url_host(name: str) -> str:
    """A name or address as a URL's host part: IPv6 addresses in brackets."""
    try:
        return f"[{name}]" if ipaddress.ip_address(name).version == 6 else name
    except ValueError:
        return name


def urls(names: Iterable[str], port: int, path: str = "/") -> list[str]:
    return [f"https://{url_host(name)}:{port}{path}" for name in names]


def terminal_qr(text: str) -> str:
    """`text` as a QR code in half-block characters, with a quiet zone."""
    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def svg_qr(text: str) -> bytes:
    """`text` as a QR code in SVG: black modules on white (dark-mode pages would invert nothing)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=8, border=4, light="#fff", xmldecl=False)
    return out.getvalue()
