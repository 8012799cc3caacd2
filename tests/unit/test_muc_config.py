"""The owner form in each server's dialect (component/muc_config.py), from hand-written forms: what is
compared, what is submitted, and that nothing the server does not offer is ever sent (ejabberd refuses the
whole form for one unknown field)."""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

import pytest

from dotimely_chat.component.muc_config import (
    ROOM_FORMS,
    missing_essentials,
    offered_fields,
    room_form,
    submit_form,
    wanted_config,
    wrong_fields,
)
from dotimely_chat.component.stanzas import NS_DATA

# What each server's owner form offers (trimmed from what Prosody 0.12 and ejabberd 23.01 sent).
PROSODY_FIELDS = {"muc#roomconfig_roomname": "", "muc#roomconfig_roomdesc": "", "muc#roomconfig_persistentroom": "0",
                  "muc#roomconfig_publicroom": "1", "muc#roomconfig_membersonly": "0", "muc#roomconfig_whois":
                  "moderators", "muc#roomconfig_changesubject": "1", "muc#roomconfig_enablearchiving": "1",
                  "{http://prosody.im/protocol/muc}roomconfig_allowmemberinvites": "0"}
EJABBERD_FIELDS = {"muc#roomconfig_roomname": "", "muc#roomconfig_roomdesc": "", "muc#roomconfig_persistentroom":
                   "1", "muc#roomconfig_publicroom": "0", "muc#roomconfig_membersonly": "1", "muc#roomconfig_whois":
                   "anyone", "muc#roomconfig_changesubject": "0", "mam": "1", "allow_private_messages": "1",
                   "muc#roomconfig_allowinvites": "0", "allow_query_users": "1", "enable_hats": "0",
                   "muc#roomconfig_moderatedroom": "1"}


def form(fields: dict[str, str]) -> Element:
    x = Element(f"{{{NS_DATA}}}x", {"type": "form"})
    hidden = SubElement(x, f"{{{NS_DATA}}}field", {"var": "FORM_TYPE", "type": "hidden"})
    SubElement(hidden, f"{{{NS_DATA}}}value").text = "http://jabber.org/protocol/muc#roomconfig"
    for var, value in fields.items():
        field = SubElement(x, f"{{{NS_DATA}}}field", {"var": var})
        if value:
            SubElement(field, f"{{{NS_DATA}}}value").text = value
    return x


def submitted(element: Element) -> dict[str, str]:
    return {f.get("var", ""): f.findtext(f"{{{NS_DATA}}}value") or "" for f in element}


def test_each_server_is_asked_in_its_own_dialect() -> None:
    prosody, ejabberd = wanted_config(room_form("prosody"), "N", ""), wanted_config(room_form("ejabberd"), "N", "")
    assert prosody["muc#roomconfig_enablearchiving"] is True and "mam" not in prosody
    assert ejabberd["mam"] is True and ejabberd["allow_private_messages"] is False
    assert "muc#roomconfig_enablearchiving" not in ejabberd and "muc#roomconfig_allowpm" not in ejabberd
    assert room_form("prosody").locks_new_rooms and not room_form("ejabberd").locks_new_rooms
    for form_ in ROOM_FORMS.values():
        assert form_.fixed[form_.archiving] is True
    with pytest.raises(ValueError, match="no room configuration for XMPP server 'openfire'"):
        room_form("openfire")


@pytest.mark.parametrize("server, fields, wrong", [
    ("prosody", PROSODY_FIELDS, ["muc#roomconfig_membersonly", "muc#roomconfig_persistentroom",
                                 "muc#roomconfig_whois", "muc#roomconfig_publicroom",
                                 "muc#roomconfig_changesubject", "muc#roomconfig_roomname"]),
    ("ejabberd", EJABBERD_FIELDS, ["allow_private_messages", "muc#roomconfig_moderatedroom",
                                   "muc#roomconfig_roomname"]),
])
def test_only_offered_fields_are_compared_and_submitted(server: str, fields: dict[str, str],
                                                        wrong: list[str]) -> None:
    wanted = wanted_config(room_form(server), "Haircut", "")
    offered = offered_fields(form(fields))
    assert wrong_fields(offered, wanted) == wrong
    sent = submitted(submit_form(offered, wanted))
    assert set(sent) - {"FORM_TYPE"} <= set(fields), "nothing the server did not offer"
    assert sent["muc#roomconfig_membersonly"] == "1" and sent["muc#roomconfig_roomname"] == "Haircut"
    assert missing_essentials(room_form(server), offered) == []


def test_a_form_lacking_an_essential_field_is_named() -> None:
    fields = {var: value for var, value in EJABBERD_FIELDS.items() if var not in ("mam", "muc#roomconfig_whois")}
    assert missing_essentials(ROOM_FORMS["ejabberd"], offered_fields(form(fields))) == ["muc#roomconfig_whois", "mam"]
