"""The body of `PUT /v1/businesses/{b}/people/{p}`, validated: each refusal names the field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...policies.people import password_problem, split_bare_jid, validate_display_name
from ...policies.roles import ROLES, Role, parse_role
from ...policies.text import single_line_problem
from ..input_checks import check_xml_text, invalid, refuse_unknown_fields

MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class PersonInput:
    role: Role
    display_name: str
    jid: str | None = None
    password: str | None = None
    email: str | None = None
    phone: str | None = None

    @classmethod
    def from_json(cls, body: Any, domain: str) -> PersonInput:
        """Validate a request body; each error names the field."""
        if not isinstance(body, dict):
            raise invalid("body", "a JSON object is required")
        refuse_unknown_fields(body, ("role", "display_name", "jid", "password", "email", "phone"))
        role = parse_role(body.get("role"))
        if role is None:
            raise invalid("role", f"{body.get('role')!r} is not one of {', '.join(ROLES)}")
        name = validate_display_name(body.get("display_name"))
        if name is None:
            raise invalid("display_name", "a name of 1 to 200 printable characters is required")
        jid = body.get("jid")
        if jid is not None:
            parts = split_bare_jid(jid)
            if parts is None:
                raise invalid("jid", f"{jid!r} is not a bare JID in lower case such as 'name@{domain}'")
            if parts[1] != domain:
                raise invalid("jid", f"{jid!r} is not on this server's domain {domain!r}")
        password = body.get("password")
        if password is not None and (not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH
                                     or len(password) > 1024):
            raise invalid("password", f"a string of {MIN_PASSWORD_LENGTH} to 1024 characters is required")
        email, phone = body.get("email"), body.get("phone")
        if email is not None and (not isinstance(email, str) or len(email) > 320 or "@" not in email):
            raise invalid("email", "an e-mail address of at most 320 characters is required")
        if phone is not None and (not isinstance(phone, str) or len(phone) > 64):
            raise invalid("phone", "a phone number of at most 64 characters is required")
        # The password goes into an XEP-0133 form, e-mail and phone into search results: XML text only.
        check_xml_text("password", password)
        for field, value in (("email", email), ("phone", phone)):
            if value is not None and (problem := single_line_problem(value)):
                raise invalid(field, problem)
        if password is not None and (problem := password_problem(password)):
            raise invalid("password", problem)
        return cls(role, name, jid, password, email or None, phone or None)
