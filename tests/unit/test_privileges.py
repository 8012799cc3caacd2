"""Reading the XEP-0356 advertisement, including Debian mod_privilege's nested namespaces."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from dotimely_chat.component.privileges import parse_privilege_advertisement

# As Debian's prosody-modules (0.0~hg20230223) sends it: each <namespace> inside the previous one.
NESTED = """
<privilege xmlns='urn:xmpp:privilege:2'>
  <perm access='roster' type='both'/>
  <perm access='message' type='outgoing'/>
  <perm access='presence' type='managed_entity'/>
  <perm access='iq'>
    <namespace ns='http://jabber.org/protocol/pubsub' type='both'>
      <namespace ns='urn:xmpp:mam:2' type='get'/>
    </namespace>
  </perm>
</privilege>
"""

FLAT = """
<privilege xmlns='urn:xmpp:privilege:2'>
  <perm access='iq'>
    <namespace ns='http://jabber.org/protocol/pubsub' type='set'/>
  </perm>
</privilege>
"""


def test_nested_namespaces_are_all_read() -> None:
    granted = parse_privilege_advertisement("example.org", ET.fromstring(NESTED))
    assert granted.accesses == {"roster": "both", "message": "outgoing", "presence": "managed_entity"}
    assert granted.iq == {"http://jabber.org/protocol/pubsub": "both", "urn:xmpp:mam:2": "get"}
    assert granted.allows_iq("urn:xmpp:mam:2", "get")
    assert not granted.allows_iq("urn:xmpp:mam:2", "set")


def test_flat_namespaces_as_the_xep_says() -> None:
    granted = parse_privilege_advertisement("example.org", ET.fromstring(FLAT))
    assert granted.allows_iq("http://jabber.org/protocol/pubsub", "set")
    assert not granted.allows_iq("http://jabber.org/protocol/pubsub", "get")
    assert granted.accesses == {}


# As ejabberd 23.01 sends it (EJABBERD.md §1): privilege:1, no IQ permission.
EJABBERD_V1 = """
<privilege xmlns='urn:xmpp:privilege:1'>
  <perm type='outgoing' access='message'/><perm type='both' access='roster'/>
  <perm type='managed_entity' access='presence'/>
</privilege>
"""


def test_ejabberds_privilege_1_is_read() -> None:
    granted = parse_privilege_advertisement("example.test", ET.fromstring(EJABBERD_V1))
    assert granted.version == 1
    assert granted.accesses == {"roster": "both", "message": "outgoing", "presence": "managed_entity"}
    assert granted.iq == {}
    assert parse_privilege_advertisement("example.org", ET.fromstring(FLAT)).version == 2
