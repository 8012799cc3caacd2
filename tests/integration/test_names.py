"""People's display names are where clients look for them: the XEP-0172 nickname (and vCard) in their own
PEP, fetched by another real client, following the directory (create, rename, removal)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest
from slixmpp import ClientXMPP

from dotimely_chat.app import ChatService

from ..support.business import Api, make_business
from ..support.clients import ClientFactory
from ..support.names import fetched_nick

pytestmark = pytest.mark.servers("prosody", "ejabberd")

async def fetched_vcard_name(client: ClientXMPP, jid: str) -> str | None:
    """vcard-temp FN (profanity's /info, Gajim's profile), served by mod_vcard_legacy from the vCard 4."""
    iq = client.make_iq_get(ito=jid)
    ET.SubElement(iq.xml, "{vcard-temp}vCard")
    reply = await iq.send(timeout=10)
    return reply.xml.findtext("{vcard-temp}vCard/{vcard-temp}FN")


async def test_names_are_published_renamed_and_removed_with_the_directory(
        api: Api, chat_service: ChatService, xmpp_clients: ClientFactory) -> None:
    biz = await make_business(api, customers=1, staff=1)
    owner, customer, staff = biz["people"]["owner"], biz["people"]["customer0"], biz["people"]["staff0"]
    owner_client = await xmpp_clients.connect(owner["jid"], owner["password"])
    staff_client = await xmpp_clients.connect(staff["jid"], staff["password"])
    customer_client = await xmpp_clients.connect(customer["jid"], customer["password"])

    assert await fetched_nick(owner_client, customer["jid"]) == "Cathy Customer0"  # a contact
    assert await fetched_nick(staff_client, customer["jid"]) == "Cathy Customer0"  # a room member
    assert await fetched_nick(customer_client, customer["jid"]) == "Cathy Customer0"  # oneself
    assert await fetched_vcard_name(owner_client, customer["jid"]) == "Cathy Customer0"
    assert await fetched_nick(customer_client, owner["jid"]) == "Olga Owner"

    await api.call("PUT", f"/v1/businesses/{biz['id']}/people/{customer['id']}",
                   {"role": "customer", "display_name": "Cathy Newname"}, expect=200)
    assert await fetched_nick(owner_client, customer["jid"]) == "Cathy Newname"
    assert await fetched_vcard_name(owner_client, customer["jid"]) == "Cathy Newname"

    await api.call("DELETE", f"/v1/businesses/{biz['id']}/people/{customer['id']}")
    assert await fetched_nick(owner_client, customer["jid"]) is None
    assert await fetched_nick(owner_client, owner["jid"]) == "Olga Owner"

    await api.call("DELETE", f"/v1/businesses/{biz['id']}")  # people stay; they belong to no business now
    assert await fetched_nick(owner_client, owner["jid"]) is None
    assert await fetched_vcard_name(owner_client, owner["jid"]) is None


async def test_names_missing_or_wrong_on_the_server_are_put_back_after_a_reconnect(
        api: Api, chat_service: ChatService, xmpp_clients: ClientFactory) -> None:
    """People made before names were published (or a nick changed elsewhere) get the directory's name."""
    biz = await make_business(api, customers=1, staff=0)
    owner, customer = biz["people"]["owner"], biz["people"]["customer0"]
    profile = chat_service.names.gateway
    await profile.retract_name(customer["jid"])
    await profile.publish_name(owner["jid"], "Somebody Else")
    owner_client = await xmpp_clients.connect(owner["jid"], owner["password"])
    assert await fetched_nick(owner_client, customer["jid"]) is None

    assert await chat_service.names.reconcile_all() == 2
    assert await fetched_nick(owner_client, customer["jid"]) == "Cathy Customer0"
    assert await fetched_nick(owner_client, owner["jid"]) == "Olga Owner"
    assert await chat_service.names.reconcile_all() == 0  # unchanged names are only read

