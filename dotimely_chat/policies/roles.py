"""Roles of a person in a business."""

from __future__ import annotations

from typing import Final, Literal, get_args

Role = Literal["owner", "staff", "customer"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)


def parse_role(value: object) -> Role | None:
    """The role named by `value`, or None when it is not one."""
    if isinstance(value, str) and value in ROLES:
        return value
    return None
