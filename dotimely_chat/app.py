"""Builds the running service from the config: database, component, HTTP API and upload host.

`dotimely-chat up` puts a local Prosody in front of it; `dotimely-chat component` runs it alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path

from aiohttp import web

from .api.app import build_api_app
from .api.context import ApiContext
from .component.adhoc_guard import bind_command_sessions_to_requester
from .component.adhoc_list import list_commands_per_requester
from .component.export_command import register_export
from .component.link import ChatComponent
from .component.message_status import register_message_status
from .component.muc import MucRooms
from .component.muc_archive import archive_of
from .component.node_links import ClusterComponent
from .component.new_conversation import register_new_conversation
from .component.presence import register_presence
from .component.search import register_search
from .component.service_presence import ServicePresence
from .component.start_chat import register_start_chat
from .component.upload import register_upload
from .config import Config, retention_seconds
from .http_upload.server import build_upload_app, server_ssl_context
from .instance_lock import ServiceLocks
from .metrics import Metrics
from .servers.adapter import build_server_adapter
from .servers.prosody_config import observer_jid
from .servers.tls import ensure_server_certificate
from .services.appointments import AppointmentService
from .services.audit import AuditLog
from .services.directory import DirectoryService
from .services.export import ExportService
from .services.health import HealthChecks
from .services.names import NameService
from .services.retention import RetentionHousekeeping
from .services.rooms import RoomService
from .services.rosters import RosterService
from .services.status import StatusRecorder
from .services.status_backfill import ArchiveBackfill
from .services.status_queries import StatusQueries
from .services.uploads.housekeeping import UploadHousekeeping
from .services.uploads.service import UploadService
from .services.web_conversations import WebConversations
from .services.web_credentials import CredentialVault
from .services.web_login import WebLoginService
from .storage import Database, sqlite_url_for
from .storage.migrate import upgrade_database
from .web.app import build_web_app

log = logging.getLogger(__name__)


def database_url(config: Config) -> str:
    return config.database.url or sqlite_url_for(config.state_directory)


def room_key(config: Config) -> bytes:
    """The key of the room JIDs (services.rooms.RoomService.room_jid_for): stable across restarts."""
    return hashlib.sha256(b"dotimely-chat room jid\0" + config.component.secret.encode()).digest()


def tls_files(config: Config) -> tuple[Path, Path]:
    """The certificate of the HTTPS upload host: the configured one, else the generated one (<state>/tls,
    signed by the demo CA, the same as the XMPP server's under `up`)."""
    if config.http.tls_certificate:
        return Path(config.http.tls_certificate), Path(config.http.tls_key)
    files = ensure_server_certificate(config)
    return files.certificate, files.private_key


class ChatService:
    """Everything but the XMPP server. Start and stop in pairs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.database = Database(database_url(config))
        self.metrics = Metrics()
        # A cluster of ejabberd nodes: one stream per node, one dispatch (component/node_links.py).
        self.component = ClusterComponent(config) if config.ejabberd.clustered else ChatComponent(config)
        self.service_presence = ServicePresence(self.component, config.xmpp.domain, self._is_member)
        # Everything that differs between Prosody and ejabberd (servers/adapter.py).
        self.server = build_server_adapter(config, self.component, self.service_presence.announce)
        self.accounts = self.server.accounts
        self.rosters = RosterService(self.database, self.server.rosters, config.component.jid)
        self.directory = DirectoryService(self.database, self.accounts, self.rosters, config.xmpp.domain)
        self.names = NameService(self.database, self.server.profiles)
        self.directory.effects.names = self.names
        self.muc = MucRooms(self.component, config.muc.host, observer_jid(config), bookmarks=self.server.bookmarks,
                            server=self.server.server)
        self.rooms = RoomService(self.database, self.muc, config.muc.host,
                                 untouchable={config.component.jid, observer_jid(config)},
                                 room_key=room_key(config))
        self.appointments = AppointmentService(self.database, self.rooms)
        self.directory.effects.listeners.append(self.rooms)
        self.muc.on_affiliation_change(self.rooms.on_affiliation_change)
        self.muc.on_config_change(self.rooms.on_config_change)
        self.recorder = StatusRecorder(self.database, self.rooms.status_members, self.metrics)
        self.metrics.watch(link=self.component, recorder=self.recorder)
        self.muc.record_status(self.recorder)
        self.rooms.members_changed.append(self.recorder.invalidate)
        self.presence_tasks = register_presence(self.component, self.recorder, config.xmpp.domain,
                                                self.server.presence)
        self.status = StatusQueries(self.database, self.rooms, config.muc.host)
        self.rooms.members_changed.append(self.status.forget)
        # Rosters first: the component must be in users' rosters for its invitations to pass.
        self.component.add_resync_step("rosters", self._reconcile_rosters)
        # Then hear everyone online (ejabberd: the component asks as their contact; Prosody sends it unasked).
        self.component.add_resync_step("presence", self._refresh_presence)
        self.component.add_resync_step("rooms", self._reconcile_rooms)
        # Then what was said while we were away (the recorder holds live room events until then).
        self.backfill = ArchiveBackfill(self.database, self.recorder, archive_of(self.component))
        self.component.add_resync_step("backfill", self._backfill)
        # Names last: one PEP read per person, nothing else waits for it.
        self.component.add_resync_step("names", self._reconcile_names)
        self.component.on_late_answer(self._check_late_times)
        bind_command_sessions_to_requester(self.component)
        register_search(self.component, self.directory.search)
        register_new_conversation(self.component, self.directory.search)
        register_start_chat(self.component, self.appointments, self.rooms)
        register_message_status(self.component, self.status)
        self.export = ExportService(self.database, archive_of(self.component), observer_jid(config),
                                    config.http.api_public_url)
        register_export(self.component, self.export)
        list_commands_per_requester(self.component, self.directory.search.roles_of)
        self.uploads = UploadService(self.database, config, self.metrics)
        register_upload(self.component, self.uploads)
        self.upload_housekeeping = UploadHousekeeping(self.uploads)
        self.retention = RetentionHousekeeping(self.database, retention_seconds(config.archive.retention),
                                               server_archives=self.server.retention)
        self.directory.effects.vault = CredentialVault.in_state(config.state_directory)
        self.directory.businesses.retention_seconds = retention_seconds(config.archive.retention)
        self.web_logins = WebLoginService(self.database, self.directory.effects.vault, config)
        self.web_conversations = WebConversations(self.database, self.rooms, self.appointments, self.status)
        self._runners: list[web.AppRunner] = []
        self.locks = ServiceLocks(self.database, config.upload_directory)

    async def _is_member(self, jid: str) -> bool:
        return bool(await self.directory.search.roles_of(jid))

    async def _reconcile_rosters(self) -> None:
        await self.rosters.reconcile_all()

    async def _refresh_presence(self) -> None:
        await self.server.presence.refresh(await self.rosters.component_contacts())

    async def _reconcile_names(self) -> None:
        await self.names.reconcile_all()

    async def _reconcile_rooms(self) -> None:
        await self.rooms.reconcile_all()

    async def _backfill(self) -> None:
        await self.backfill.run()

    async def _check_late_times(self, since: dt.datetime) -> None:
        await self.backfill.correct_late_times(since, self.recorder.rooms_heard_since(since))

    async def start(self) -> None:
        # Before anything touches the database or the uploads: a second instance must harm nothing.
        await self.locks.acquire()
        log.info("Database %s: migrating", self.database.display_url)
        await upgrade_database(self.database)
        self.recorder.start()
        refused = await self.server.connect_check() if self.server.connect_check is not None else None
        if refused:  # the callers see it as the server's refusal (component.state.refused) and stop
            log.error("Not connecting the component: %s", refused)
            self.component.state.refused = self.component.state.last_error = refused
        else:
            self.component.start()
        api = build_api_app(ApiContext(self.config, HealthChecks(self.database), self.component,
                                       self.directory, AuditLog(self.database), self.appointments,
                                       self.rooms, self.status,
                                       export=self.export, web_logins=self.web_logins, metrics=self.metrics))
        upload = build_upload_app(self.config.upload_directory, self.uploads)
        certificate, key = tls_files(self.config)
        await self._serve("api", api, self.config.http.api_listen.host, self.config.http.api_listen.port, None)
        await self._serve("upload", upload, self.config.http.upload_listen.host,
                          self.config.http.upload_listen.port, server_ssl_context(certificate, key))
        page = build_web_app(self.config, self.web_logins, self.web_conversations)
        await self._serve("web", page, self.config.web.listen.host, self.config.web.listen.port, None)
        self.upload_housekeeping.start()
        self.retention.start()
        log.info("HTTP API on %s, upload host on %s, web page on %s/web/", self.config.http.api_public_url,
                 self.config.http.upload_public_url, self.config.web.public_url)

    async def _serve(self, name: str, app: web.Application, host: str, port: int, ssl_context: object) -> None:
        self.metrics.instrument(app, name)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        try:
            await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()  # type: ignore[arg-type]
        except OSError as exc:
            raise ServiceError(f"cannot listen on {host}:{port} ({exc.strerror}); change http.api_listen, "
                               "http.upload_listen or web.listen") from None

    async def stop(self) -> None:
        if self.component.link_up:
            self.service_presence.leave()
        await self.component.stop()
        await self.presence_tasks.close()
        await self.recorder.stop()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        await self.upload_housekeeping.stop()
        await self.retention.stop()
        await self.server.close()
        await self.locks.release()
        await self.database.dispose()


class ServiceError(RuntimeError):
    pass
