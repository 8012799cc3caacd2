"""The page's HTML and its security headers (CSP allowing only our own hosts)."""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlsplit

from ..config import Config

CONVERSE_VERSION = "14.0.0"
STATIC = "/web/static"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(config: Config) -> str:
    """The page talks to itself, the XMPP server's websocket (each node's in a cluster) and the upload host;
    nothing else loads."""
    upload = origin(config.http.upload_public_url)
    websocket = " ".join(dict.fromkeys(origin(url) for url in config.websocket_urls))
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # Converse 14 (lit) sets style attributes
        f"img-src 'self' data: blob: {upload}",
        f"media-src 'self' blob: {upload}",
        "font-src 'self'",
        f"connect-src 'self' {websocket} {upload}",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def security_headers(config: Config) -> dict[str, str]:
    return {"Content-Security-Policy": content_security_policy(config), "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def page_settings(config: Config) -> dict[str, Any]:
    """What the page's script needs to start Converse (no secrets: the login comes from the API)."""
    upload_host = urlsplit(config.http.upload_public_url).hostname
    return {"websocket_url": config.websocket_url, "websocket_urls": list(config.websocket_urls),
            "assets_path": f"{STATIC}/vendor/converse/",
            "upload_host": upload_host, "component_jid": config.component.jid, "muc_host": config.muc.host,
            "domain": config.xmpp.domain}


def _shell(title: str, body: str, head: str = "") -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="{STATIC}/vendor/converse/images/favicon.ico">
<link rel="stylesheet" href="{STATIC}/dotimely.css">
{head}
</head>
<body class="dt-body">
{body}
</body>
</html>
"""


def chat_page(config: Config) -> str:
    settings = json.dumps(page_settings(config)).replace("</", "<\\/")
    head = (f'<link rel="stylesheet" href="{STATIC}/vendor/converse/converse.min.css">\n'
            f'<script type="application/json" id="dotimely-settings">{settings}</script>\n'
            f'<script type="module" src="{STATIC}/dotimely-page.js"></script>')
    body = """<header class="dt-header"><span class="dt-logo">DoTimely</span><span class="dt-header-title">Chat</span>
<span class="dt-whoami" id="dt-whoami"></span></header>
<main id="dt-main"><div class="dt-notice" id="dt-notice" role="status">Opening your conversations…</div></main>"""
    return _shell("DoTimely Chat", body, head)


def message_page(title: str, text: str) -> str:
    """A clear page for a link that does not work (used, expired, unknown) or a person without access."""
    body = f"""<header class="dt-header"><span class="dt-logo">DoTimely</span><span class="dt-header-title">Chat</span></header>
<main class="dt-message"><h1 id="dt-message-title">{html.escape(title)}</h1><p>{html.escape(text)}</p></main>"""
    return _shell(f"{title} · DoTimely Chat", body)
