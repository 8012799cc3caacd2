"""The last line of defence before a stanza leaves the component: text XML cannot carry is refused here.

Prosody 0.12 answers a not-well-formed stanza on the component stream by closing the stream: the link goes
down for every user (issue 16.1). The front doors refuse such text with 400 naming the field
(http_common/requests.py); this check makes sure no field forgotten there, and no stored value from before,
can take the link down: the one stanza is refused (its sender gets an error at once) and the link stays up.
"""

from __future__ import annotations

import logging
from xml.etree.ElementTree import Element

from ..errors import BAD_REQUEST, DomainError
from ..policies.text import describe_char, first_non_xml_char

log = logging.getLogger(__name__)


class UnsafeStanzaText(DomainError):
    """A stanza carried text XML cannot carry; it was not sent."""

    def __init__(self, where: str, char: str) -> None:
        super().__init__(BAD_REQUEST, f"text with {describe_char(char)}, a character XML cannot carry, "
                                      "cannot be sent to the XMPP server")
        self.where = where


def first_unsafe_text(element: Element) -> tuple[str, str] | None:
    """(where, character) of the first text, attribute or name in `element` that is not XML text."""
    for node in element.iter():
        tag = node.tag if isinstance(node.tag, str) else "?"
        for where, text in ((tag, tag), (tag, node.text), (f"{tag} (after)", node.tail)):
            if text and (char := first_non_xml_char(text)):
                return where, char
        for name, value in node.attrib.items():
            char = first_non_xml_char(name) or first_non_xml_char(value)
            if char:
                return f"{tag}@{name}", char
    return None


def check_outgoing(element: Element, to: str, kind: str) -> None:
    """Raise UnsafeStanzaText (and log where) when `element` cannot be serialised as well-formed XML."""
    problem = first_unsafe_text(element)
    if problem is None:
        return
    where, char = problem
    log.error("Refused to send a %s stanza to %s: %s in <%s> (the server would close the link)",
              kind, to, describe_char(char), where)
    raise UnsafeStanzaText(where, char)
