"""``/docs``: Swagger UI over ``/openapi.json``, served by the service itself.

The Swagger UI files come from the ``swagger-ui-bundle-v2`` wheel (Swagger UI's own release,
Apache-2.0, its licence in the wheel's metadata), so that the page works on a closed network:
it loads nothing from elsewhere (its Content-Security-Policy, :mod:`.middleware`, says so too).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

DOCS = "/docs"
STATIC = "/docs/static"
ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript", "favicon-32x32.png": "image/png"}
"""The only files of the bundle served (its index.html and initializer point at a demo API elsewhere)."""

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fhirbridge API</title>
<link rel="stylesheet" href="{STATIC}/swagger-ui.css">
<link rel="icon" type="image/png" href="{STATIC}/favicon-32x32.png">
</head>
<body>
<main id="swagger-ui"></main>
<script src="{STATIC}/swagger-ui-bundle.js"></script>
<script src="{DOCS}/start.js"></script>
</body>
</html>
"""

START = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  docExpansion: "none",
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""
"""Started from a file of the service rather than inline, so that the page's policy allows
only the service's own scripts; ``validatorUrl: null`` stops Swagger UI from sending the
document to swagger.io for its badge."""


def mount_docs(app: FastAPI) -> None:
    """Serve the page, its start script and the Swagger UI files it needs."""
    folder = Path(str(swagger_ui_path))

    @app.get(DOCS, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get(f"{DOCS}/start.js", include_in_schema=False)
    async def start() -> Response:
        return Response(START, media_type="text/javascript")

    for name, media_type in ASSETS.items():
        app.add_api_route(f"{STATIC}/{name}", _asset(folder / name, media_type), include_in_schema=False)


def _asset(path: Path, media_type: str) -> Callable[[], Awaitable[Response]]:
    async def asset() -> Response:
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})

    return asset
