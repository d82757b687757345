"""Which addresses a fetch may connect to: pure functions.

Refused unless ``--allow_private_addresses``: loopback, private (RFC 1918,
unique local), link-local, multicast, reserved, unspecified, carrier-grade
NAT (100.64/10), and the cloud metadata addresses (169.254.169.254, which
is link-local anyway, and AWS's fd00:ec2::254), which stay refused even
with the flag. A worker inside a cloud project must not become a way into
that project's network.
"""
from __future__ import annotations

import ipaddress
from typing import Optional

METADATA_ADDRESSES = frozenset({
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
})
_SHARED = ipaddress.ip_network("100.64.0.0/10")


def is_metadata(address: str) -> bool:
  """A cloud metadata address: refused even with --allow_private_addresses."""
  ip = ipaddress.ip_address(address.split("%", 1)[0])
  if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
    ip = ip.ipv4_mapped
  return ip in METADATA_ADDRESSES


def special_use(address: str) -> Optional[str]:
  """Why ``address`` may not be fetched from, or None when it may."""
  ip = ipaddress.ip_address(address.split("%", 1)[0])
  if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
    ip = ip.ipv4_mapped
  if ip in METADATA_ADDRESSES:
    return "a cloud metadata address"
  checks = (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
            ("multicast", ip.is_multicast), ("unspecified", ip.is_unspecified),
            ("private", ip.is_private), ("reserved", ip.is_reserved),
            ("shared (carrier-grade NAT)", isinstance(
                ip, ipaddress.IPv4Address) and ip in _SHARED))
  for name, hit in checks:
    if hit:
      return f"a {name} address"
  return None


def refused_because(address: str, allow_private: bool) -> Optional[str]:
  """Why a fetch may not connect to ``address`` under this job's
  ``--allow_private_addresses``, or None (metadata stays refused)."""
  why = special_use(address)
  if why is not None and allow_private and not is_metadata(address):
    return None
  return why
