"""Reading the XEP-0356 privilege advertisement correctly.

Protocol trap (Debian prosody-modules 0.0~hg20230223, mod_privilege): the `<namespace>` elements of the IQ
permission arrive nested one inside the other, so slixmpp 1.17 records no IQ permission and its
`send_privileged_iq` raises PermissionError. We read every descendant `<namespace>` ourselves and store
the result where slixmpp looks (the server enforces its own config anyway).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

NS = "urn:xmpp:privilege:2"
log = logging.getLogger(__name__)


@dataclass
class AdvertisedPrivileges:
    """What one server granted: access -> type (roster/message/presence), and IQ namespace -> type."""

    server: str
    accesses: dict[str, str] = field(default_factory=dict)
    iq: dict[str, str] = field(default_factory=dict)

    def allows_iq(self, namespace: str, iq_type: str) -> bool:
        granted = self.iq.get(namespace)
        return granted == "both" or granted == iq_type


def parse_privilege_advertisement(server: str, privilege: Element) -> AdvertisedPrivileges:
    """Parse a `<privilege xmlns='urn:xmpp:privilege:2'>` element, tolerating nested namespaces."""
    result = AdvertisedPrivileges(server)
    for perm in privilege.findall(f"{{{NS}}}perm"):
        access = perm.get("access", "")
        if access == "iq":
            for ns in perm.iter(f"{{{NS}}}namespace"):
                if ns.get("ns") and ns.get("type"):
                    result.iq[ns.get("ns", "")] = ns.get("type", "")
        elif access and perm.get("type"):
            result.accesses[access] = perm.get("type", "")
    return result
