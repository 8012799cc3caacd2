"""Property tests (hypothesis) of the parsers of outside input: whatever comes in, each answers with a value
that is safe to use or with its own error naming what is wrong — never another exception.

API request bodies, the ad-hoc command forms (start-chat, new-conversation, export), export ranges, and
config values."""

from __future__ import annotations

import datetime as dt
import json
import string
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slixmpp.exceptions import XMPPError
from slixmpp.plugins.xep_0004 import Form

from dotimely_chat.component.export_command import parse_export_form
from dotimely_chat.component.new_conversation import MAX_QUERY, parse_pick_form, parse_query_form
from dotimely_chat.component.start_chat import parse_start_chat_form
from dotimely_chat.config import parse_config
from dotimely_chat.errors import BAD_REQUEST, ConfigError, DomainError
from dotimely_chat.http_common.requests import MAX_JSON_DEPTH, parse_json
from dotimely_chat.policies.exports import MAX_RANGE, ExportRequestError, parse_format, parse_range
from dotimely_chat.policies.people import password_problem
from dotimely_chat.policies.text import first_non_xml_char, is_xml_text
from dotimely_chat.services.appointments import AppointmentInput
from dotimely_chat.services.directory.person_input import PersonInput
from dotimely_chat.services.rooms import StartChat

from ..conftest import config_document

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DOMAIN = "dotimely.test"

# Text from anywhere in Unicode, with the troublemakers (controls, U+FFFE/U+FFFF, lone surrogates) common.
TROUBLE = st.sampled_from(["\x00", "\x08", "\x0b", "\x1f", "\x7f", "\x85", "\ud800", "\udfff", "\ufffe",
                           "\uffff", "\u200e", "\ue000", "\t", "\n", "\r", "\U0010ffff"])
TEXT = st.lists(st.one_of(st.characters(codec=None), TROUBLE, st.sampled_from(list(string.printable))),
                max_size=40).map("".join)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)), max_leaves=20)


def all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *all_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in all_strings(v)]
    return []


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def parses_as_xml(text: str) -> bool:
    try:
        ElementTree.fromstring(f"<a>{escape(text)}</a>".encode())
    except (ElementTree.ParseError, UnicodeEncodeError):
        return False
    return True


@PROPERTY
@given(TEXT)
def test_xml_text_is_exactly_what_an_xml_parser_accepts(text: str) -> None:
    assert is_xml_text(text) is parses_as_xml(text)
    assert (first_non_xml_char(text) is None) is is_xml_text(text)


def expect_bad_request(call: Any, *args: Any) -> Any:
    """Call; a refusal must be a 400 DomainError naming a field."""
    try:
        return call(*args)
    except DomainError as exc:
        assert exc.kind is BAD_REQUEST and exc.details.get("field"), exc.to_json()
        return None


@PROPERTY
@given(st.one_of(TEXT, JSON_VALUES.map(lambda v: json.dumps(v)), st.integers(0, 3000).map(
    lambda n: "[" * n + "]" * n)))
def test_a_json_body_is_parsed_or_refused_with_400(text: str) -> None:
    value = expect_bad_request(parse_json, text)
    if value is not None:
        assert all(is_xml_text(s) for s in all_strings(value))
        assert depth(value) <= MAX_JSON_DEPTH


PERSON_FIELDS = st.fixed_dictionaries({}, optional={
    "role": st.one_of(st.sampled_from(["owner", "staff", "customer"]), JSON_SCALARS),
    "display_name": st.one_of(TEXT, JSON_SCALARS), "jid": st.one_of(TEXT.map(lambda t: f"{t}@{DOMAIN}"), TEXT),
    "password": st.one_of(TEXT.map(lambda t: t + "password"), JSON_SCALARS),
    "email": st.one_of(TEXT.map(lambda t: t + "@mail.test"), JSON_SCALARS), "phone": JSON_SCALARS,
    "extra": JSON_VALUES})


@PROPERTY
@given(st.one_of(PERSON_FIELDS, JSON_VALUES))
def test_a_person_body_is_valid_xml_text_or_refused_naming_the_field(body: Any) -> None:
    person = expect_bad_request(PersonInput.from_json, body, DOMAIN)
    if person is not None:
        texts = [person.display_name, person.jid, person.password, person.email, person.phone]
        assert all(is_xml_text(t) for t in texts if t is not None)
        assert person.password is None or password_problem(person.password) is None


APPOINTMENT_FIELDS = st.fixed_dictionaries({}, optional={
    "customer": st.one_of(TEXT, JSON_SCALARS), "staff": TEXT,
    "starts_at": st.one_of(TEXT, st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())),
    "duration_minutes": st.one_of(st.integers(), JSON_SCALARS), "service_name": st.one_of(TEXT, JSON_SCALARS)})


@PROPERTY
@given(st.one_of(APPOINTMENT_FIELDS, JSON_VALUES))
def test_an_appointment_body_is_usable_or_refused_naming_the_field(body: Any) -> None:
    appointment = expect_bad_request(AppointmentInput.from_json, body)
    if appointment is not None:
        assert appointment.starts_at + dt.timedelta(minutes=appointment.duration_minutes)  # computable
        assert is_xml_text(appointment.service_name) and is_xml_text(appointment.customer)


@PROPERTY
@given(st.one_of(st.fixed_dictionaries({}, optional={"initiator": TEXT, "appointment": TEXT,
                                                     "audience": st.one_of(TEXT, JSON_SCALARS)}), JSON_VALUES))
def test_a_start_conversation_body_is_usable_or_refused_naming_the_field(body: Any) -> None:
    start = expect_bad_request(StartChat.from_json, body)
    if start is not None:
        assert is_xml_text(start.appointment) and start.audience in (None, "everyone", "owner")


NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
INSTANTS = st.one_of(st.none(), TEXT, st.dates().map(dt.date.isoformat),
                     st.datetimes(timezones=st.timezones()).map(dt.datetime.isoformat))


@PROPERTY
@given(INSTANTS, INSTANTS, st.one_of(st.none(), TEXT))
def test_an_export_range_and_format_are_usable_or_refused_naming_the_parameter(
        raw_from: str | None, raw_to: str | None, raw_format: str | None) -> None:
    try:
        export_range = parse_range(raw_from, raw_to, NOW)
    except ExportRequestError as exc:
        assert exc.parameter in ("from", "to")
    else:
        assert export_range.start < export_range.end <= NOW + dt.timedelta(days=1)
        assert export_range.end - export_range.start <= MAX_RANGE
    try:
        assert parse_format(raw_format) in ("jsonl", "html")
    except ExportRequestError as exc:
        assert exc.parameter == "format"


# ------------------------------------------------------------------------------- ad-hoc command forms
XML_TEXT = TEXT.filter(is_xml_text)
FORM_VALUE = st.one_of(st.none(), XML_TEXT, st.lists(XML_TEXT, max_size=3), st.booleans())


def submitted(values: dict[str, Any]) -> Form:
    """A form as a client submits it (values of any field type; several values make a list)."""
    form = Form()
    form["type"] = "submit"
    for var, value in values.items():
        form.add_field(var=var, value=value)
    return Form(xml=ElementTree.fromstring(str(form)))  # through XML, as it arrives


FIELDS = ["appointment", "audience", "business", "from", "to", "format", "query", "person"]


@PROPERTY
@given(st.dictionaries(st.sampled_from(FIELDS), FORM_VALUE, max_size=6),
       st.sets(XML_TEXT.map(lambda t: f"biz\n{t}"), max_size=3))
def test_start_chat_form_takes_only_an_offered_appointment(values: dict[str, Any], offered: set[str]) -> None:
    try:
        business, appointment, audience = parse_start_chat_form(submitted(values), offered)
    except XMPPError as exc:
        assert exc.condition == "bad-request"
    else:
        assert f"{business}\n{appointment}" in offered and audience in (None, "everyone", "owner")


@PROPERTY
@given(st.dictionaries(st.sampled_from(FIELDS), FORM_VALUE, max_size=6), st.sets(XML_TEXT, max_size=3))
def test_new_conversation_forms_take_a_bounded_query_and_only_an_offered_person(
        values: dict[str, Any], offered: set[str]) -> None:
    form = submitted(values)
    query = parse_query_form(form)
    assert isinstance(query, str) and len(query) <= MAX_QUERY
    try:
        assert parse_pick_form(form, offered) in offered
    except XMPPError as exc:
        assert exc.condition == "bad-request"


@PROPERTY
@given(st.dictionaries(st.sampled_from(FIELDS), FORM_VALUE, max_size=6), st.sets(XML_TEXT, max_size=3))
def test_export_form_takes_only_an_offered_business_and_a_known_format(
        values: dict[str, Any], offered: set[str]) -> None:
    try:
        business, raw_from, raw_to, fmt = parse_export_form(submitted(values), offered)
    except XMPPError as exc:
        assert exc.condition == "bad-request"
        return
    assert business in offered and fmt in ("html", "jsonl")
    try:  # what the export service does with the range next
        parse_range(raw_from, raw_to, NOW)
    except ExportRequestError:
        pass


@pytest.mark.parametrize("payload", [None, "not a form", Form()])
def test_forms_that_are_not_forms_are_refused(payload: Any) -> None:
    with pytest.raises(XMPPError):
        parse_start_chat_form(payload, {"biz\na1"})
    with pytest.raises(XMPPError):
        parse_export_form(payload, {"biz"})
    assert parse_query_form(payload) == ""


# ------------------------------------------------------------------------------------------- config
TOML_SCALARS = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), TEXT,
                         st.dates(), st.datetimes())
TOML_VALUES = st.recursive(TOML_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8)
BASE = config_document(Path("/tmp/dotimely-property-state"))
KEYS = [(section, key) for section, values in BASE.items() if isinstance(values, dict) for key in values] + [
    ("", "log_level"), ("", "state_directory"), ("upload", "max_file_size"), ("upload", "picture_types"),
    ("archive", "retention"), ("database", "url"), ("web", "websocket_url"), ("upload", "slot_expires_after"),
    ("xmpp", "client_interfaces"), ("http", "tls_certificate"), ("demo", "enabled"), ("nosuch", "key"),
    ("xmpp", "nosuch")]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(KEYS), TOML_VALUES)
def test_a_bad_config_value_is_a_config_error_naming_the_key(where: tuple[str, str], value: Any) -> None:
    section, key = where
    document = {name: dict(values) if isinstance(values, dict) else values for name, values in BASE.items()}
    if section:
        document.setdefault(section, {})[key] = value
    else:
        document[key] = value
    try:
        parse_config(document, Path("/tmp"))
    except ConfigError as exc:
        path = f"{section}.{key}" if section else key
        # The key itself (an item of its list), an unknown section by its name, or the key a cross-check
        # compares it with.
        assert exc.key == path or exc.key.startswith(path + "[") or (section == "nosuch" and exc.key == section) \
            or exc.key in CROSS_CHECKED.get(path, ()), (path, exc)
        assert str(exc).startswith(f"config key '{exc.key}'")


CROSS_CHECKED = {  # parse_config names the other key of these pairs
    "xmpp.domain": ("component.jid", "muc.host"), "component.jid": ("muc.host",),
    "xmpp.client_port": ("xmpp.http_port", "component.port"), "xmpp.http_port": ("component.port",),
    "http.upload_public_url": ("web.public_url",), "http.tls_certificate": ("http.tls_key",),
    "http.tls_key": ("http.tls_certificate",),
    # A small max_file_size is refused by naming the kind's limit that now exceeds it.
    "upload.max_file_size": ("upload.picture_max_size", "upload.video_max_size", "upload.document_max_size"),
}


# ----------------------------------------------------------------------------------- presence (XEP-0319)
@PROPERTY
@given(st.one_of(TEXT.filter(is_xml_text), st.datetimes(timezones=st.timezones()).map(dt.datetime.isoformat)))
def test_an_idle_time_from_a_client_is_a_storable_utc_time_or_ignored(since: str) -> None:
    from slixmpp import Presence

    from dotimely_chat.component.presence import NS_IDLE, _idle_since

    presence = Presence()
    presence.xml.append(ElementTree.Element(f"{{{NS_IDLE}}}idle", since=since))
    parsed = _idle_since(presence)
    assert parsed is None or (parsed.utcoffset() == dt.timedelta(0) and 1970 <= parsed.year <= 9000)
