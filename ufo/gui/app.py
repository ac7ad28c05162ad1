"""The GUI's HTTP API and static files (FastAPI).

Bound to 127.0.0.1 it is open to the local user; bound elsewhere every request needs the
token printed at start (`?token=` once, then a cookie), as Jupyter does. Paths the browser
lists stay inside `root`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from ..core.errors import UfoError
from . import engine

STATIC = Path(__file__).parent / "static"


def create_app(root: str = ".", token: str | None = None) -> FastAPI:
    app = FastAPI(title="ufo", docs_url=None, redoc_url=None)
    root_path = Path(root).resolve()
    runs = engine.Runs()

    @app.middleware("http")
    async def check_token(request: Request, call_next: Any) -> Any:
        if token is None:
            return await call_next(request)
        given = request.query_params.get("token") or request.cookies.get("ufo_token") \
            or request.headers.get("authorization", "").removeprefix("token ")
        if not secrets.compare_digest(given or "", token):
            return JSONResponse({"error": "this ufo gui needs its token: open the URL printed when it started"}, 403)
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie("ufo_token", token, httponly=True, samesite="strict")
        return response

    def inside(path: str) -> Path:
        target = (root_path / path).resolve() if not os.path.isabs(path) else Path(path).resolve()
        if target != root_path and root_path not in target.parents:
            raise HTTPException(403, f"'{path}' is outside the GUI's root {root_path}")
        return target

    def usage(exc: Exception) -> HTTPException:
        return HTTPException(400, str(exc))

    def find(run_id: str) -> engine.Run:
        try:
            return runs.get(run_id)
        except KeyError:
            raise HTTPException(404, f"no run {run_id}") from None

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/schema")
    async def schema() -> dict[str, Any]:
        return {"fields": engine.schema(), "root": str(root_path)}

    @app.post("/api/validate")
    async def validate(values: dict[str, Any]) -> dict[str, Any]:
        errors = await asyncio.to_thread(engine.validate, _resolve(values))
        return {"errors": errors}

    def _resolve(values: dict[str, Any]) -> dict[str, Any]:
        """Relative paths in the form are relative to the root, and must stay inside it."""
        out = dict(values)
        for name in ("projections", "sinograms", "darks", "flats", "flats2", "output"):
            if out.get(name):
                text = str(out[name])
                file, sep, dataset = text.partition(".h5:") if ".h5:" in text else (text, "", "")
                out[name] = str(inside(file)) + (sep + dataset if sep else "")
        return out

    @app.post("/api/axis")
    async def axis(values: dict[str, Any]) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(engine.axis_view, _resolve(values))
        except UfoError as exc:
            raise usage(exc) from None

    @app.post("/api/runs")
    async def start(values: dict[str, Any]) -> dict[str, Any]:
        try:
            run = await asyncio.to_thread(runs.start, _resolve(values))
        except UfoError as exc:
            raise usage(exc) from None
        return run.status()

    @app.get("/api/runs/{run_id}")
    async def status(run_id: str) -> dict[str, Any]:
        return find(run_id).status()

    @app.get("/api/runs/{run_id}/events")
    async def events(run_id: str) -> StreamingResponse:
        run = find(run_id)

        async def stream() -> Any:
            last = None
            while True:
                state = run.status()
                text = json.dumps(state)
                if text != last:
                    yield f"data: {text}\n\n"
                    last = text
                if state["state"] in ("done", "failed", "cancelled"):
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/api/runs/{run_id}/cancel")
    async def cancel(run_id: str) -> dict[str, Any]:
        find(run_id)  # 404 for an unknown run
        return runs.cancel(run_id).status()

    @app.get("/api/runs/{run_id}/slices/{index}")
    async def slice_(run_id: str, index: int) -> dict[str, Any]:
        run = find(run_id)
        try:
            return await asyncio.to_thread(engine.read_slice, run.plan.options.output, index)
        except UfoError as exc:
            raise usage(exc) from None

    @app.get("/api/files")
    async def files(path: str = ".") -> dict[str, Any]:
        target = inside(path)
        if not target.is_dir():
            raise HTTPException(404, f"'{path}' is not a directory")
        entries = sorted(target.iterdir(), key=lambda p: (not p.is_dir(), p.name))
        return {"path": str(target.relative_to(root_path)) or ".",
                "entries": [{"name": p.name, "dir": p.is_dir()} for p in entries if not p.name.startswith(".")]}

    @app.post("/api/config/save")
    async def save(request: Request) -> dict[str, Any]:
        body = await request.json()
        path = inside(body.get("path") or "reco.toml")
        values = {k: v for k, v in body.get("values", {}).items() if v not in (None, "") and k not in engine.GUI_ONLY}
        path.write_text(_toml(values) if path.suffix != ".json" else json.dumps({"reco": values}, indent=2))
        return {"path": str(path)}

    @app.post("/api/config/load")
    async def load(request: Request) -> dict[str, Any]:
        body = await request.json()
        path = inside(body.get("path") or "reco.toml")
        try:
            data = json.loads(path.read_text()) if path.suffix == ".json" else tomllib.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise HTTPException(400, f"cannot read config '{path}': {exc}") from None
        values = data.get("reco", data)
        return {"values": {k.replace("-", "_"): v for k, v in values.items()}}

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    return app


def _toml(values: dict[str, Any]) -> str:
    """The [reco] table `ufo reco --config` reads (keys as its options, dashes)."""
    lines = ["[reco]"]
    for key, value in values.items():
        name = key.replace("_", "-")
        if isinstance(value, bool):
            lines.append(f"{name} = {'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            lines.append(f"{name} = {value}")
        else:
            lines.append(f"{name} = {json.dumps(str(value))}")
    return "\n".join(lines) + "\n"
