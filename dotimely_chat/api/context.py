"""Typed state shared by the aiohttp views (aiohttp AppKey): the config, the service objects, the link."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from ..config import Config
from ..metrics import Metrics
from ..services.appointments import AppointmentService
from ..services.audit import AuditLog
from ..services.directory import DirectoryService
from ..services.export import ExportService
from ..services.health import HealthChecks
from ..services.ports import XmppLink
from ..services.rooms import RoomService
from ..services.status_queries import StatusQueries
from ..services.web_login import WebLoginService


@dataclass
class ApiContext:
    config: Config
    health: HealthChecks
    link: XmppLink | None  # None: no link at all (tests of the API alone); /healthz says disconnected
    directory: DirectoryService
    audit: AuditLog
    appointments: AppointmentService | None = None
    rooms: RoomService | None = None
    status: StatusQueries | None = None
    export: ExportService | None = None
    web_logins: WebLoginService | None = None
    metrics: Metrics = field(default_factory=Metrics)


CONTEXT: web.AppKey[ApiContext] = web.AppKey("dotimely_context", ApiContext)
