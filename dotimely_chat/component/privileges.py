"""Reading the XEP-0356 privilege advertisement correctly.

Protocol trap (Debian prosody-modules 0.0~hg20230223, mod_privilege): the `<namespace>` elements of the IQ
permission arrive nested one inside the other, so slixmpp 1.17 records no IQ permission and its
`send_privileged_iq` raises PermissionError. We read every descendant `<namespace>` ourselves and store
the result where slixmpp looks (the server enforces its own config anyway).

Protocol trap (ejabberd 23.01, EJABBERD.md §1): the advertisement is `urn:xmpp:privilege:1` (roster, message,
presence; no IQ permission), which slixmpp 1.17's xep_0356 ignores entirely. We read both versions; `version`
says which one the server speaks (a privileged message is wrapped per version).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

NS = "urn:xmpp:privilege:2"
NS_V1 = "urn:xmpp:privilege:1"
NAMESPACES = (NS, NS_V1)
log = logging.getLogger(__name__)


@dataclass
class AdvertisedPrivileges:
    """What one server granted: access -> type (roster/message/presence), and IQ namespace -> type."""

    server: str
    version: int = 2
    accesses: dict[str, str] = field(default_factory=dict)
    iq: dict[str, str] = field(default_factory=dict)

    def allows_iq(self, namespace: str, iq_type: str) -> bool:
        granted = self.iq.get(namespace)
        return granted == "both" or granted == iq_type


def parse_privilege_advertisement(server: str, privilege: Element) -> AdvertisedPrivileges:
    """Parse a `<privilege>` element of privilege:2 (tolerating nested namespaces) or privilege:1."""
    ns = NS_V1 if privilege.tag == f"{{{NS_V1}}}privilege" else NS
    result = AdvertisedPrivileges(server, version=1 if ns == NS_V1 else 2)
    for perm in privilege.findall(f"{{{ns}}}perm"):
        access = perm.get("access", "")
        if access == "iq":
            for namespace in perm.iter(f"{{{ns}}}namespace"):
                if namespace.get("ns") and namespace.get("type"):
                    result.iq[namespace.get("ns", "")] = namespace.get("type", "")
        elif access and perm.get("type"):
            result.accesses[access] = perm.get("type", "")
    return result
