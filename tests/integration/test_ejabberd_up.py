"""`dotimely-chat up` with xmpp.server = "ejabberd" in config.toml, as a person runs it: the node as up's
child, the component, the demo business with its printed accounts; a client logs in as the demo owner; Ctrl-C
leaves no node behind."""

from __future__ import annotations

import os
import re
import signal

import aiohttp

from dotimely_chat.config import load_config
from dotimely_chat.servers.ejabberd_process import EjabberdProcess, _node_pids

from ..support.ejabberd import EjabberdClientFactory, reachable_temp_dir
from ..support.up import UpProcess, owner_credentials, up_document, write_config


async def test_up_on_ejabberd_runs_the_demo_a_client_logs_in_and_ctrl_c_leaves_no_node() -> None:
    with reachable_temp_dir() as folder:
        doc = up_document(folder / "state", "ejabberd")
        config_path = folder / "config.toml"
        write_config(config_path, doc)
        up = UpProcess(config_path)
        try:
            banner = await up.start(timeout=90)
            assert "ejabberd log:" in banner
            jid, password = owner_credentials(banner)
            assert jid == f"olivia@{doc['xmpp']['domain']}"
            token = re.search(r"token: (\S+)", banner).group(1)  # type: ignore[union-attr]

            node = EjabberdProcess(load_config(config_path))
            assert len(_node_pids(node.paths.spool_dir)) == 1
            clients = EjabberdClientFactory(node)
            client = await clients.connect(jid, password)
            items = await client.plugin["xep_0030"].get_items(jid=doc["xmpp"]["domain"], timeout=10)
            assert doc["component"]["jid"] in {item[0] for item in items["disco_items"]["items"]}
            roster = (await client.get_roster())["roster"]["items"]
            groups = {str(contact).split("@")[0]: (item["name"], sorted(item["groups"]), item["subscription"])
                      for contact, item in roster.items()}
            assert groups["sam"] == ("Sam Stylist", ["Staff"], "both")
            assert groups["carl"] == ("Carl Customer", ["Customers"], "both")
            assert len([g for g in groups.values() if g[1] == ["Customers"]]) == 3
            assert groups[doc["component"]["jid"]] == ("DoTimely", ["DoTimely"], "both")
            client.send_presence()
            api = doc["http"]["api_public_url"]
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
                async with http.get(f"{api}/healthz") as response:
                    assert response.status == 200
                path = f"{api}/v1/businesses/demo-salon/people/demo-owner/presence"
                async with http.get(path) as response:
                    assert response.status == 200, await response.text()
            await clients.close()

            assert await up.interrupt() == 0, "".join(up.output)
            assert _node_pids(node.paths.spool_dir) == [], "the ejabberd node still runs after Ctrl-C"
        finally:
            if up.process and up.process.returncode is None:
                up.process.kill()
                await up.process.wait()
            for pid in _node_pids(folder / "state" / "ejabberd" / "spool"):
                os.kill(pid, signal.SIGKILL)
