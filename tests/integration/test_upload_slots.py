"""XEP-0363 slots from real clients on the real Prosody: discovery, and each refusal as a standard error."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from slixmpp import JID
from slixmpp.exceptions import IqError

from dotimely_chat.storage import UploadRepository, utcnow

from ..support.clients import ClientFactory
from ..support.uploads import WAIT, UploadEnv

pytestmark = pytest.mark.servers("prosody", "ejabberd")

NS = "urn:xmpp:http:upload:0"
MiB = 1024**2


async def test_a_member_discovers_the_upload_service_from_the_server_disco_items(upload_env: UploadEnv) -> None:
    client = upload_env.owner.client
    domain = upload_env.service.config.xmpp.domain
    items = await client.plugin["xep_0030"].get_items(jid=domain, timeout=WAIT)
    found = []
    for item in items["disco_items"]["items"]:
        info = await client.plugin["xep_0030"].get_info(jid=item[0], timeout=WAIT)
        if NS in info["disco_info"]["features"]:
            found.append(info)
    assert [str(info["from"]) for info in found] == [str(upload_env.component)], "exactly one upload service"
    info = found[0]
    assert ("store", "file") in {(i[0], i[1]) for i in info["disco_info"]["identities"]}
    forms = [form.get_values() for form in info["disco_info"].iterables if form.get_values().get("FORM_TYPE")]
    assert next(f for f in forms if f["FORM_TYPE"] in (NS, [NS]))["max-file-size"] == str(100 * MiB)
    # slixmpp's own client-side discovery (identity store/file + feature) agrees.
    discovered = await client.plugin["xep_0363"].find_upload_service(domain=JID(domain), timeout=WAIT)
    assert discovered is not None and discovered["from"] == upload_env.component


async def test_disco_announces_the_configured_maximum(upload_env: UploadEnv) -> None:
    upload_env.limit(max_size={"picture": 2 * MiB, "video": 3 * MiB, "document": 1 * MiB})
    info = await upload_env.staff.client.plugin["xep_0030"].get_info(jid=upload_env.component, timeout=WAIT)
    form = next(f for f in info["disco_info"].iterables if f.get_values().get("FORM_TYPE") in (NS, [NS]))
    assert form.get_values()["max-file-size"] == str(3 * MiB)


async def test_someone_of_no_business_neither_sees_the_service_nor_gets_a_slot(
    upload_env: UploadEnv, xmpp_clients: ClientFactory
) -> None:
    stranger = await xmpp_clients.connect(*xmpp_clients.account(), "xep_0363")
    info = await stranger.plugin["xep_0030"].get_info(jid=upload_env.component, timeout=WAIT)
    assert NS not in info["disco_info"]["features"]
    assert ("store", "file") not in {(i[0], i[1]) for i in info["disco_info"]["identities"]}
    with pytest.raises(IqError) as caught:
        await stranger.plugin["xep_0363"].request_slot(upload_env.component, "a.jpg", 1000, "image/jpeg",
                                                       timeout=WAIT)
    error = caught.value.iq["error"]
    assert (error["type"], error["condition"]) == ("auth", "forbidden")


async def test_a_slot_is_recorded_before_its_result_and_names_the_file(upload_env: UploadEnv) -> None:
    url, token = await upload_env.slot(upload_env.customer, "../../Holiday photo.JPG", 12345, "image/jpeg")
    assert url.startswith(upload_env.base_url + "/upload/") and url.endswith("/Holiday%20photo.JPG")
    file_id = url.split("/")[-2]
    assert len(file_id) == 40 and token not in url
    async with upload_env.service.database.session() as session:
        slot = await UploadRepository(session).get_slot(file_id)
        customer = await UploadRepository(session).uploader(upload_env.customer.jid)
    assert slot is not None and customer is not None
    assert (slot.size, slot.content_type, slot.filename) == (12345, "image/jpeg", "Holiday photo.JPG")
    assert (slot.person_id, slot.business_id) == customer


@pytest.mark.parametrize(("filename", "size", "ctype", "etype", "condition", "max_size"), [
    ("clip.mp4", 100 * MiB + 1, "video/mp4", "modify", "not-acceptable", 100 * MiB),
    ("photo.jpg", 20 * MiB + 1, "image/jpeg", "modify", "not-acceptable", 20 * MiB),
    ("drawing.svg", 100, "image/svg+xml", "modify", "not-acceptable", None),
    ("setup.exe", 100, "application/x-msdownload", "modify", "not-acceptable", None),
    ("page.html", 100, "text/html", "modify", "not-acceptable", None),
    ("empty.pdf", 0, "application/pdf", "modify", "bad-request", None),
])
async def test_refused_slots_say_why_in_a_standard_error(
    upload_env: UploadEnv, filename: str, size: int, ctype: str, etype: str, condition: str, max_size: int | None
) -> None:
    with pytest.raises(IqError) as caught:
        await upload_env.slot(upload_env.customer, filename, size, ctype)
    error = caught.value.iq["error"]
    assert (error["type"], error["condition"]) == (etype, condition)
    assert error["text"]
    too_large = error.xml.find(f"{{{NS}}}file-too-large")
    if max_size is None:
        assert too_large is None
    else:
        assert too_large is not None and too_large.findtext(f"{{{NS}}}max-file-size") == str(max_size)
        assert "MiB" in error["text"]


@pytest.mark.parametrize("size", ["lots", "+16", " 16", "16 ", "1_6", "\u0661\u0666", "0x10", "1e3", "16.0",
                                  "-16", "", None, "1" * 21])
async def test_a_size_that_is_not_a_plain_decimal_integer_is_a_bad_request(upload_env: UploadEnv,
                                                                           size: str | None) -> None:
    """Python's int() grants "+16", " 16", "1_6" and "١٦"; XEP-0363's size is bytes in decimal digits."""
    iq = upload_env.owner.client.make_iq_get(ito=upload_env.component)
    iq["http_upload_request"]["filename"] = "a.jpg"
    iq["http_upload_request"]["content-type"] = "image/jpeg"
    if size is not None:
        iq["http_upload_request"].xml.set("size", size)
    with pytest.raises(IqError) as caught:
        await iq.send(timeout=WAIT)
    error = caught.value.iq["error"]
    assert (error["type"], error["condition"]) == ("modify", "bad-request")
    assert "decimal" in error["text"]
    url, _ = await upload_env.slot(upload_env.owner, "a.jpg", 16, "image/jpeg")  # "16" itself is granted
    assert url.endswith("/a.jpg")


async def test_the_daily_quota_counts_open_slots_and_says_wait(upload_env: UploadEnv) -> None:
    upload_env.limit(daily_quota=3 * MiB)
    await upload_env.slot(upload_env.staff, "a.pdf", 2 * MiB, "application/pdf")
    with pytest.raises(IqError) as caught:
        await upload_env.slot(upload_env.staff, "b.pdf", 2 * MiB, "application/pdf")
    error = caught.value.iq["error"]
    assert (error["type"], error["condition"]) == ("wait", "resource-constraint")
    assert "quota" in error["text"].lower()
    await upload_env.slot(upload_env.owner, "c.pdf", 2 * MiB, "application/pdf")  # a quota per person


async def test_concurrent_slot_requests_at_the_quota_edge_do_not_all_fit(upload_env: UploadEnv) -> None:
    upload_env.limit(daily_quota=3 * MiB)
    results = await asyncio.gather(*(upload_env.slot(upload_env.customer, f"{n}.pdf", MiB, "application/pdf")
                                     for n in range(7)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, IqError)]
    assert len(results) - len(refused) == 3, results
    assert {r.iq["error"]["condition"] for r in refused} == {"resource-constraint"}
    async with upload_env.service.database.session() as session:
        usage = await UploadRepository(session).uploader_with_usage(
            upload_env.customer.jid, utcnow() - dt.timedelta(days=1), utcnow())
    assert usage is not None and usage[2] == 3 * MiB, "storage counts exactly what was granted"


async def test_the_rooms_observer_jid_is_not_an_upload_service(upload_env: UploadEnv) -> None:
    observer = JID(f"rooms@{upload_env.service.config.component.jid}")
    with pytest.raises(IqError) as caught:
        await upload_env.owner.client.plugin["xep_0363"].request_slot(observer, "a.jpg", 10, "image/jpeg",
                                                                      timeout=WAIT)
    assert caught.value.iq["error"]["condition"] == "service-unavailable"
