"""The desktop web page: Converse.js (vendored, pinned) with our plugin, login links and a small JSON API
read with the page's session cookie. Served on its own listener (config [web])."""
