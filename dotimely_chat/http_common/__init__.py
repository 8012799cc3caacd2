"""aiohttp plumbing shared by the HTTP front doors (the API, the upload host, the web page): errors as JSON
with a stable errcode, request limits, reading JSON bodies and parameters."""
