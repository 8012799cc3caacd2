"""Presence as the status API tells it, for the tests."""

from __future__ import annotations

from typing import Any

from .business import Api
from .waiting import eventually


class PresenceOf:
    """The status API's presence answer for one person, polled until it says what a test waits for."""

    def __init__(self, api: Api, biz: dict[str, Any], key: str) -> None:
        self.api, self.person = api, biz["people"][key]
        self.path = f"/v1/businesses/{biz['id']}/people/{self.person['id']}/presence"

    async def get(self) -> dict[str, Any]:
        return dict(await self.api.call("GET", self.path, expect=200))

    async def becomes(self, timeout: float = 10.0, **wanted: Any) -> dict[str, Any]:
        async def holds() -> bool:
            answer = await self.get()
            return all(answer.get(key) == value for key, value in wanted.items())

        try:
            await eventually(holds, timeout)
        except AssertionError:
            raise AssertionError(f"presence of {self.person['id']} is {await self.get()}, not {wanted}") from None
        return await self.get()
