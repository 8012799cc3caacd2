"""Typed state shared by the aiohttp views (aiohttp AppKey)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from ..component.link import ChatComponent
from ..config import Config
from ..metrics import Metrics
from ..services.appointments import AppointmentService
from ..services.directory import DirectoryService
from ..services.export import ExportService
from ..services.rooms import RoomService
from ..services.status_queries import StatusQueries
from ..services.web_login import WebLoginService
from ..storage import Database


@dataclass
class ApiContext:
    config: Config
    database: Database
    component: ChatComponent | None
    directory: DirectoryService
    appointments: AppointmentService | None = None
    rooms: RoomService | None = None
    status: StatusQueries | None = None
    export: ExportService | None = None
    web_logins: WebLoginService | None = None
    metrics: Metrics = field(default_factory=Metrics)


CONTEXT: web.AppKey[ApiContext] = web.AppKey("dotimely_context", ApiContext)
