"""The room configuration we want, read from and written to a MUC owner form (XEP-0045 §10.2), one table per
XMPP server: the servers name the same room options differently.

Pure functions on the `<x xmlns='jabber:x:data'>` element, no I/O: `MucRooms.ensure_config` fetches the form,
asks `wrong_fields` what differs and submits `submit_form`. Only fields the server offers are compared and
submitted (Prosody ignores unknown fields, ejabberd rejects the whole form), so each table lists the fields of
its own server's dialect:

- Prosody 0.12: archiving is mod_muc_mam's `muc#roomconfig_enablearchiving`; member invites are Prosody's own
  `{http://prosody.im/protocol/muc}roomconfig_allowmemberinvites`; Prosody 0.12 has no private-message option.
  New rooms stay locked until the owner form is submitted.
- ejabberd 23.01 (EJABBERD.md §3): archiving is `mam` (`muc#roomconfig_enablearchiving` is refused with
  "Unknown field"), private messages are `allow_private_messages` (`muc#roomconfig_allowpm` fails with
  internal-server-error), invites are XEP-0045's `muc#roomconfig_allowinvites`. Rooms are not locked: they
  start with `default_room_options` of the generated ejabberd.yml.
  Rooms are **not moderated** (`muc#roomconfig_moderatedroom` 0, ejabberd's default is 1): in a moderated
  room ejabberd 23.01 keeps the role it gave a member (`get_occupant_stored_role`) after their affiliation
  is removed, and lets them enter the members-only room again as a participant with affiliation none
  (seen, tests/integration/test_ejabberd_rooms.py). Prosody's rooms are not moderated by default either.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement

from .stanzas import NS_DATA

ROOMCONFIG_FORM_TYPE = "http://jabber.org/protocol/muc#roomconfig"
PROSODY_MEMBER_INVITES = "{http://prosody.im/protocol/muc}roomconfig_allowmemberinvites"

_ESSENTIAL = ("muc#roomconfig_membersonly", "muc#roomconfig_persistentroom", "muc#roomconfig_whois",
              "muc#roomconfig_publicroom")


@dataclass(frozen=True)
class RoomForm:
    """One server's dialect of the owner form: the fixed values we want, the fields without which a room would
    not be what PRODUCT.md §2.3 promises (a form lacking one is logged), and whether a new room is locked
    until its owner form is submitted. `archiving` names the field that switches the room's archive on."""

    server: str
    fixed: dict[str, bool | str]
    essential: tuple[str, ...]
    locks_new_rooms: bool
    archiving: str


ROOM_FORMS: dict[str, RoomForm] = {
    "prosody": RoomForm("prosody", {
        "muc#roomconfig_membersonly": True,
        "muc#roomconfig_persistentroom": True,
        "muc#roomconfig_whois": "anyone",
        "muc#roomconfig_publicroom": False,
        "muc#roomconfig_enablearchiving": True,
        PROSODY_MEMBER_INVITES: False,
        "muc#roomconfig_allowinvites": False,  # not offered by Prosody 0.12 (so not sent)
        "muc#roomconfig_changesubject": False,
    }, _ESSENTIAL, locks_new_rooms=True, archiving="muc#roomconfig_enablearchiving"),
    "ejabberd": RoomForm("ejabberd", {
        "muc#roomconfig_membersonly": True,
        "muc#roomconfig_persistentroom": True,
        "muc#roomconfig_whois": "anyone",
        "muc#roomconfig_publicroom": False,
        "mam": True,
        "allow_private_messages": False,
        "muc#roomconfig_allowinvites": False,
        "muc#roomconfig_changesubject": False,
        "muc#roomconfig_moderatedroom": False,  # a removed member got back in (see above)
        "public_list": False,         # the occupant list is not shown to non-members
        "allow_subscription": False,  # no MUC/Sub: membership is presence in the room, as on Prosody
    }, (*_ESSENTIAL, "mam", "allow_private_messages", "muc#roomconfig_moderatedroom"), locks_new_rooms=False, archiving="mam"),
}


def room_form(server: str) -> RoomForm:
    """The owner-form dialect of `server` (config `xmpp.server`)."""
    try:
        return ROOM_FORMS[server]
    except KeyError:
        raise ValueError(f"no room configuration for XMPP server {server!r} "
                         f"(known: {', '.join(ROOM_FORMS)})") from None


@dataclass(frozen=True)
class OfferedField:
    var: str
    type: str
    values: tuple[str, ...]


def wanted_config(form: RoomForm, name: str, description: str) -> dict[str, bool | str]:
    """Appointment rooms: members-only, persistent, non-anonymous, hidden, archived, no member invites,
    subject set by moderators only (no private messages where the server can say so), named."""
    return {**form.fixed, "muc#roomconfig_roomname": name, "muc#roomconfig_roomdesc": description}


def offered_fields(form: Element) -> dict[str, OfferedField]:
    """The named fields of a data form, with their current values."""
    fields: dict[str, OfferedField] = {}
    for field in form.findall(f"{{{NS_DATA}}}field"):
        var = field.get("var")
        if var:
            values = tuple(value.text or "" for value in field.findall(f"{{{NS_DATA}}}value"))
            fields[var] = OfferedField(var, field.get("type", "text-single"), values)
    return fields


def _as_bool(values: tuple[str, ...]) -> bool:
    return bool(values) and values[0].strip().lower() in ("1", "true")


def matches(field: OfferedField, wanted: bool | str) -> bool:
    if isinstance(wanted, bool):
        return _as_bool(field.values) == wanted
    return "\n".join(field.values) == wanted


def wrong_fields(offered: dict[str, OfferedField], wanted: dict[str, bool | str]) -> list[str]:
    """The wanted fields the form offers whose current value differs, in `wanted` order."""
    return [var for var, value in wanted.items() if var in offered and not matches(offered[var], value)]


def missing_essentials(form: RoomForm, offered: dict[str, OfferedField]) -> list[str]:
    return [var for var in form.essential if var not in offered]


def submit_form(offered: dict[str, OfferedField], wanted: dict[str, bool | str]) -> Element:
    """A submitted form carrying every wanted field the server offered (and nothing else)."""
    form = Element(f"{{{NS_DATA}}}x", {"type": "submit"})
    _add_field(form, "FORM_TYPE", ROOMCONFIG_FORM_TYPE)
    for var, value in wanted.items():
        if var in offered:
            _add_field(form, var, ("1" if value else "0") if isinstance(value, bool) else value)
    return form


def _add_field(form: Element, var: str, value: str) -> None:
    field = SubElement(form, f"{{{NS_DATA}}}field", {"var": var})
    SubElement(field, f"{{{NS_DATA}}}value").text = value
