"""The service's Prometheus metrics, all defined here, in one registry per service (GET /metrics on the API).

Each `ChatService` has its own `Metrics` (tests run several services in one process; the library's global
default registry would refuse the second set of names). Two kinds of figures:
- counted where they happen, through the small methods below (uploads, back-fill runs, the recorder's lag,
  HTTP requests through `instrument`);
- read at scrape time from the objects that already keep them (`watch`): the XMPP link's state and its
  connection count, the recorder's counts and queue, the event loop's tasks. Nothing to add in their paths.

Label values are bounded: route templates (never a raw path: no ids), known methods, status codes, upload
refusal reasons from one table, fixed stages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client import generate_latest as text_format
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_format

# Seconds from an event's arrival at the component to the commit of its batch (FLUSH_SECONDS is 20 ms).
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
UNMATCHED = "unmatched"  # no route: 404 or 405 before any view
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class _LinkLike(Protocol):
    state: Any  # component.link.LinkState: connected, connections, resyncs_completed

    @property
    def link_up(self) -> bool: ...


class _RecorderLike(Protocol):
    stats: Any  # services.status_batch.RecorderStats: messages, markers

    @property
    def queued(self) -> int: ...

    @property
    def held(self) -> int: ...


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.recorder_lag = Histogram(
            "dotimely_recorder_lag_seconds", "Status recorder: from an event's arrival at the component to the "
            "commit of its batch", buckets=LAG_BUCKETS, registry=r)
        self.upload_slots = Counter("dotimely_upload_slots", "XEP-0363 upload slots issued", registry=r)
        self.uploads = Counter("dotimely_uploads", "Files stored by the upload host (committed)", registry=r)
        self.upload_bytes = Counter("dotimely_upload_bytes", "Bytes of the files stored", registry=r)
        self.upload_refusals = Counter(
            "dotimely_upload_refusals", "Upload requests refused, by stage (slot: the XMPP request; put: the "
            "HTTP PUT) and reason (errors.UPLOAD_ERRORS)", ["stage", "reason"], registry=r)
        self.http_requests = Counter(
            "dotimely_http_requests", "HTTP requests answered, by listener (api, upload, web), method, route "
            "template and status", ["server", "method", "route", "status"], registry=r)
        self.http_duration = Histogram(
            "dotimely_http_request_duration_seconds", "HTTP request handling time, by listener and route "
            "template", ["server", "route"], buckets=HTTP_BUCKETS, registry=r)
        self.backfill_runs = Counter(
            "dotimely_backfill_runs", "Back-fill runs after a (re)connection, by outcome (done, failed: the "
            "run stopped on an error)", ["outcome"], registry=r)
        self.backfill_messages = Counter(
            "dotimely_backfill_messages", "Archived room messages and markers read by back-fill and handed to "
            "the recorder", registry=r)
        self.backfill_room_failures = Counter(
            "dotimely_backfill_room_failures", "Rooms whose archive back-fill could not read", registry=r)
        for outcome in ("done", "failed"):
            self.backfill_runs.labels(outcome)
        self._watched = _Watched()
        r.register(self._watched)
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_open_fds, CPU
        PlatformCollector(registry=r)
        GCCollector(registry=r)

    # ------------------------------------------------------------------------------ read at scrape time
    def watch(self, link: _LinkLike | None = None, recorder: _RecorderLike | None = None) -> None:
        if link is not None:
            self._watched.link = link
        if recorder is not None:
            self._watched.recorder = recorder

    # ---------------------------------------------------------------------------------- counted hooks
    def observe_lags(self, committed_at: float, seen_at: Iterable[float]) -> None:
        observe = self.recorder_lag.observe
        for seen in seen_at:
            observe(committed_at - seen)

    def upload_refused(self, stage: str, reason: str) -> None:
        self.upload_refusals.labels(stage, reason).inc()

    def upload_stored(self, size: int) -> None:
        self.uploads.inc()
        self.upload_bytes.inc(size)

    def backfill_finished(self, messages: int, failed_rooms: int, ok: bool) -> None:
        self.backfill_runs.labels("done" if ok else "failed").inc()
        self.backfill_messages.inc(messages)
        self.backfill_room_failures.inc(failed_rooms)

    # ------------------------------------------------------------------------------------------ HTTP
    def instrument(self, app: web.Application, server: str) -> None:
        """Count `app`'s requests (outermost middleware: it sees the status the client gets). Call before
        the app is started (its middleware list freezes then)."""
        app.middlewares.insert(0, self._middleware(server))

    def _middleware(self, server: str) -> Any:
        requests, duration = self.http_requests, self.http_duration

        @web.middleware
        async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            except asyncio.CancelledError:
                status = 0  # the client went away: no answer to count
                raise
            finally:
                if status:
                    resource = request.match_info.route.resource
                    route = resource.canonical if resource is not None else UNMATCHED
                    method = request.method if request.method in METHODS else "other"
                    requests.labels(server, method, route, str(status)).inc()
                    duration.labels(server, route).observe(time.perf_counter() - started)

        return count_requests

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry as OpenMetrics 1.0 when the scraper accepts it (Prometheus lists it first), else in
        the text format 0.0.4; and its content type. Decided here, not by prometheus_client's choose_encoder,
        which raises on a malformed version parameter (0.26: `version=abc`) and echoes the one asked for."""
        if "application/openmetrics-text" in (accept or "").lower():
            return openmetrics_format(self.registry), OPENMETRICS_TYPE
        return text_format(self.registry), TEXT_TYPE


class _Watched:
    """Figures other objects keep anyway, read when Prometheus scrapes."""

    def __init__(self) -> None:
        self.link: _LinkLike | None = None
        self.recorder: _RecorderLike | None = None

    def collect(self) -> Iterator[Metric]:
        if self.link is not None:
            state = self.link.state
            yield GaugeMetricFamily("dotimely_xmpp_link_up", "1 while the component's XEP-0114 link to the "
                                    "server is up", value=1 if self.link.link_up else 0)
            yield GaugeMetricFamily("dotimely_xmpp_link_resynchronised", "1 once the resynchronisation after "
                                    "the latest connection finished",
                                    value=1 if state.resyncs_completed >= state.connections > 0 else 0)
            yield CounterMetricFamily("dotimely_xmpp_link_connections", "Sessions established with the server",
                                      value=state.connections)
            yield CounterMetricFamily("dotimely_xmpp_link_reconnects", "Sessions established after the first "
                                      "(the link was lost and came back)", value=max(0, state.connections - 1))
        if self.recorder is not None:
            stats = self.recorder.stats
            yield CounterMetricFamily("dotimely_recorder_messages", "Room messages recorded by the status "
                                      "recorder (committed; live and back-filled)", value=stats.messages)
            yield CounterMetricFamily("dotimely_recorder_markers", "XEP-0333 markers and XEP-0184 receipts "
                                      "recorded that named a known message", value=stats.markers)
            yield GaugeMetricFamily("dotimely_recorder_queue_depth", "Events waiting for the recorder's next "
                                    "commit", value=self.recorder.queued)
            yield GaugeMetricFamily("dotimely_recorder_held_events", "Live room events held until back-fill has "
                                    "read their room's archive", value=self.recorder.held)
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:  # scraped outside the event loop
            return
        yield GaugeMetricFamily("dotimely_asyncio_tasks", "Tasks of the service's event loop", value=tasks)
