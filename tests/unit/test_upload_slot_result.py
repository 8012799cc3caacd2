"""The slot IQ result serialised by hand (component.upload.slot_result) reads back, through slixmpp's own
XEP-0363 stanzas, as the slot it describes, whatever characters the id, JIDs or URL hold."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from slixmpp import Iq
from slixmpp.plugins.xep_0363.stanza import Get, Header, Put, Slot
from slixmpp.xmlstream import register_stanza_plugin

from dotimely_chat.component.upload import NS, slot_result

register_stanza_plugin(Iq, Slot)
register_stanza_plugin(Slot, Put)
register_stanza_plugin(Slot, Get)
register_stanza_plugin(Put, Header, iterable=True)
STREAM_NS = "jabber:component:accept"


@pytest.mark.parametrize("iq_id", ["abc", 'q"u\'o<t>e&s', "ü 1"])
def test_the_slot_result_reads_back_as_the_slot(iq_id: str) -> None:
    url = "https://up.example/upload/" + "ab" * 20 + "/a%20%26%3Cb%3E.jpg?x=1&y=2"
    text = slot_result(iq_id, "a@example/res<1>", "chat.example", url, "tok&en<>")
    element = ET.fromstring(f'<stream xmlns="{STREAM_NS}">{text}</stream>')[0]
    iq = Iq(xml=element)
    assert (iq["type"], iq["id"], str(iq["to"]), str(iq["from"])) == ("result", iq_id, "a@example/res<1>",
                                                                      "chat.example")
    slot = iq["http_upload_slot"]
    assert slot["put"]["url"] == url and slot["get"]["url"] == url
    assert [(h["name"], h["value"]) for h in slot["put"]["headers"]] == [("Authorization", "Bearer tok&en<>")]
    assert element.find(f"{{{NS}}}slot") is not None and element.tag == f"{{{STREAM_NS}}}iq"
