"""The admin HTTP API of an ejabberd cluster: every node answers for the whole cluster (one mnesia), so a
call goes to the node that answered last and to the next one when that node does not answer.

A call is repeated on another node only when the first did not answer at all (refused, reset or timed
out); a timed-out call may have been applied there already, which our commands tolerate (`register` of an
existing account says so, roster and room commands set a state).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..errors import LinkUnavailable
from .ejabberd_accounts import EjabberdAdminApi

log = logging.getLogger(__name__)


class ClusterAdminApi(EjabberdAdminApi):
    """`EjabberdAdminApi` over the nodes' API URLs (one keep-alive pool per node)."""

    def __init__(self, base_urls: Sequence[str], timeout: float = 10.0) -> None:
        super().__init__(base_urls[0], timeout)
        self.nodes = [EjabberdAdminApi(url, timeout) for url in base_urls]
        self._current = 0

    async def call(self, command: str, **arguments: Any) -> tuple[int, Any]:
        failures = []
        for step in range(len(self.nodes)):
            index = (self._current + step) % len(self.nodes)
            try:
                answer = await self.nodes[index].call(command, **arguments)
            except LinkUnavailable as exc:
                failures.append(str(exc))
                continue
            if index != self._current:
                log.warning("ejabberd's admin API at %s did not answer; using %s", self.nodes[self._current].base_url,
                            self.nodes[index].base_url)
                self._current = index
            return answer
        raise LinkUnavailable("no node of the ejabberd cluster answered: " + "; ".join(failures))

    async def close(self) -> None:
        for node in self.nodes:
            await node.close()
