"""The GUI's HTTP API and static files (FastAPI).

Every request needs the token printed at start (`?token=` once, then a cookie), on loopback
too, as Jupyter does: any web page the user visits could otherwise drive the API. The Host
header must name the server (no DNS rebinding) and every state-changing request must come
from the GUI's own page (Origin / Sec-Fetch-Site) with a JSON body. Every path a request
names is resolved (symbolic links followed) after its format suffix (`.h5:/data`,
`.zarr:/array`) is split off, and must stay inside `root`; so must the files a glob or a
directory stands for.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from ..core.errors import UfoError, UsageError
from ..storage.formats import check_dataset, split_dataset
from . import engine
from .runs import Run, Runs
from .experiments import Board, add_routes

STATIC = Path(__file__).parent / "static"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: fields naming files: kept below --root and made absolute there (angles_file was not: the GUI read
#: /etc/shadow or /proc/self/environ for its token holder, and a relative one from its own folder)
PATH_FIELDS = ("projections", "sinograms", "darks", "flats", "flats2", "angles_file", "output")
COOKIE = "ufo_token"  # + "-PORT": two GUIs on one host keep their own (cookies ignore ports)


def _host_name(host: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1'; '[::1]:8765' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def create_app(root: str = ".", token: str | None = None, hosts: Iterable[str] | None = LOOPBACK,
               board: Any = None) -> FastAPI:
    """The app serving files below `root`.

    `token`: the access token; None makes a random one (read it from `app.state.token`); an
    empty one is refused. `hosts`: the names the Host header may carry (None: any, for a
    server bound to a public interface, where the token is the guard). `board`: the experiments
    the experiment view shows (`ufo.gui.experiments.Board`; None: an empty one).
    """
    if token is not None and not token.strip():
        raise UsageError("an empty --token would let anyone in; leave --token out for a random one")
    token = token if token is not None else secrets.token_urlsafe(24)
    allowed = None if hosts is None else {h.lower() for h in hosts}
    app = FastAPI(title="ufo", docs_url=None, redoc_url=None)
    app.state.token = token
    root_path = Path(root).resolve()
    runs = Runs()
    stopping = threading.Event()  # the server stops: an axis view still computing ends (Ctrl-C waited minutes)
    app.router.on_shutdown.append(stopping.set)

    def refuse(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message, "detail": message}, status)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        host = request.headers.get("host", "")
        if allowed is not None and _host_name(host) not in allowed:
            return refuse(403, f"host '{host}' is not this ufo gui; open the URL printed when it started")
        if request.method not in SAFE_METHODS:
            origin = request.headers.get("origin")
            if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != host.lower()):
                return refuse(403, f"cross-site request from '{origin}' refused")
            if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
                return refuse(403, "cross-site request refused")
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                return refuse(415, f"requests that change state take a JSON body (Content-Type: application/json), "
                                   f"not '{kind or 'none'}'")
        cookie = f"{COOKIE}-{request.url.port or 80}"
        given = request.query_params.get("token") or request.cookies.get(cookie) \
            or request.headers.get("authorization", "").removeprefix("token ").strip()
        if not secrets.compare_digest((given or "").encode(), token.encode()):
            return refuse(403, "this ufo gui needs its token: open the URL printed when it started")
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie(cookie, token, httponly=True, samesite="strict")
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return refuse(422, "; ".join(problems) or "malformed request body")

    @app.exception_handler(UfoError)
    async def ufo_error(request: Request, exc: UfoError) -> JSONResponse:
        return refuse(400, str(exc))

    @app.exception_handler(OSError)
    async def os_error(request: Request, exc: OSError) -> JSONResponse:
        """What the file system refuses (a name too long, a folder gone): the request's fault, said,
        not a 500 with a traceback in the server's log."""
        return refuse(400, f"{exc.strerror or exc}" + (f": '{str(exc.filename)[:80]}'" if exc.filename else ""))

    def inside(path: str, name: str = "path") -> Path:
        """`path` (relative to the root, or absolute) resolved, links followed, inside the root."""
        if not isinstance(path, str) or not path or "\x00" in path:
            raise HTTPException(400, f"{name}: expected a path (text), got {json.dumps(path)[:80]}")
        base = Path(os.path.expanduser(path)) if path.startswith("~") else Path(path)
        try:
            target = (root_path / base).resolve()
        except OSError as exc:  # a name too long for the file system
            raise HTTPException(400, f"{name}: '{path[:80]}...' cannot be a path here: {exc.strerror}") from exc
        if target != root_path and root_path not in target.parents:
            raise HTTPException(403, f"{name}: '{path}' is outside the GUI's root {root_path}")
        return target

    def inside_all(text: str, name: str) -> str:
        """A form path: the file part resolved inside the root, and every file a glob or a
        directory stands for too (a link in them must not lead out); the dataset part kept."""
        if not isinstance(text, str):
            raise HTTPException(400, f"{name}: expected a path (text), got {json.dumps(text)[:80]}")
        file, dataset = split_dataset(text)
        try:
            check_dataset(file, dataset)
        except UsageError as exc:
            raise HTTPException(400, f"{name}: {exc}") from exc
        if any(c in file for c in "*?["):
            folder = inside(os.path.dirname(file) or ".", name)
            for match in glob.glob(str(folder / os.path.basename(file))):
                inside(match, name)
            resolved = str(folder / os.path.basename(file))
        else:
            target = inside(file, name)
            if target.is_dir() and not file.lower().rstrip("/").endswith(".zarr"):
                for entry in target.iterdir():
                    inside(str(entry), name)
            resolved = str(target)
        return resolved + ("" if dataset is None else text[len(file):])

    def usage(exc: Exception) -> HTTPException:
        return HTTPException(400, engine.tidy(str(exc)))  # a 401-digit number as 1e+400 on every endpoint

    def find(run_id: str) -> Run:
        try:
            return runs.get(run_id)
        except KeyError as err:
            raise HTTPException(404, f"no run {run_id}") from err

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/schema")
    async def schema() -> dict[str, Any]:
        return {"fields": engine.schema_fields(), "root": str(root_path)}

    @app.post("/api/validate")
    async def validate(values: dict[str, Any]) -> dict[str, Any]:
        errors = await asyncio.to_thread(runs.validate, _resolve(values))  # and no run writes the output
        return {"errors": errors}

    def _resolve(values: dict[str, Any]) -> dict[str, Any]:
        """Relative paths in the form are relative to the root, and must stay inside it."""
        out = dict(values)
        for name in PATH_FIELDS:
            if out.get(name) not in (None, ""):
                out[name] = inside_all(out[name], name)
        if not out.get("output"):  # the default output lies below the root too, not the server's directory
            out["output"] = inside_all("slices/slice-%05i.tif", "output")
        return out

    @app.post("/api/axis")
    async def axis(values: dict[str, Any]) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(engine.axis_view, _resolve(values), stopping)
        except UfoError as exc:
            raise usage(exc) from exc

    @app.post("/api/runs")
    async def start(values: dict[str, Any]) -> dict[str, Any]:
        try:
            run = await asyncio.to_thread(runs.start, _resolve(values))
        except UfoError as exc:
            raise usage(exc) from exc
        return run.status()

    @app.get("/api/runs")
    async def list_runs() -> dict[str, Any]:
        return {"runs": [run.status() for run in runs.all()]}

    @app.get("/api/runs/{run_id}")
    async def status(run_id: str) -> dict[str, Any]:
        return find(run_id).status()

    @app.get("/api/runs/{run_id}/events")
    async def events(run_id: str) -> StreamingResponse:
        run = find(run_id)

        async def stream() -> Any:
            """One event per update of the run's progress (ufo.core.progress, at most 10 a second;
            `progress` in the event has rate, ETA and stage), then the run's final status."""
            ended = ("done", "failed", "cancelled")
            async for _ in run.progress.watch_async():
                yield f"data: {json.dumps(run.status())}\n\n"
                if run.state in ended:
                    break
            while run.state not in ended:  # reco.run has returned; the run is recording its result
                await asyncio.sleep(0.05)
            yield f"data: {json.dumps(run.status())}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/api/runs/{run_id}/cancel")
    async def cancel(run_id: str) -> dict[str, Any]:
        find(run_id)  # 404 for an unknown run
        return runs.cancel(run_id).status()

    @app.get("/api/runs/{run_id}/slices/{index}")
    async def slice_(run_id: str, index: int) -> dict[str, Any]:
        run = find(run_id)
        if run.written is not None and engine.output_stamp(run.plan.options.output) not in (run.written, None):
            raise HTTPException(400, f"'{run.plan.options.output}' was written again since this run ended (a later run "
                                "or another program): its slices are not this run's")
        try:
            raw = (run.plan.slice_shape(run.plan.axis), run.plan.options.output_bits)  # a .raw output's frames
            return await asyncio.to_thread(engine.read_slice, run.plan.options.output, index, run.plan.rows, raw)
        except UfoError as exc:
            raise usage(exc) from exc

    @app.get("/api/files")
    async def files(path: str = ".") -> dict[str, Any]:
        target = inside(path)
        if not target.is_dir():
            raise HTTPException(404, f"'{path}' is not a directory")
        entries = sorted(target.iterdir(), key=lambda p: (not p.is_dir(), p.name))
        return {"path": str(target.relative_to(root_path)) or ".",
                "entries": [{"name": p.name, "dir": p.is_dir()} for p in entries if not p.name.startswith(".")]}

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise HTTPException(400, f"body: not JSON ({exc})") from exc
        if not isinstance(body, dict):
            raise HTTPException(400, "body: expected a JSON object")
        return body

    @app.post("/api/config/save")
    async def save(request: Request) -> dict[str, Any]:
        """Settings as the TOML file `ufo reco --config` reads: only a `.toml` name, and an
        existing file only with `overwrite: true` (the page asks first)."""
        body = await body_of(request)
        name = body.get("path") or "reco.toml"
        values = body.get("values", {})
        overwrite = body.get("overwrite", False)
        if not isinstance(values, dict):
            raise HTTPException(400, "values: expected a JSON object of form fields")
        if not isinstance(overwrite, bool):
            raise HTTPException(400, "overwrite: expected true or false")
        path = inside(name, "path")
        if not str(name).lower().endswith(".toml") or path.suffix.lower() != ".toml":
            raise HTTPException(400, f"path: settings are saved as TOML; give a name ending in .toml, not '{name}'")
        if path.is_dir():
            raise HTTPException(400, f"path: '{name}' is a directory")
        try:  # every value checked by its option, as `ufo reco --config` will check it; paths made
            # absolute: the form's are relative to the GUI's root, `ufo reco --config` reads them
            # relative to its working folder (ufo/reco/config.py), which is seldom the root
            text = engine.config_text({**values, **{name: inside_all(values[name], name) for name in PATH_FIELDS
                                                    if values.get(name) not in (None, "")}})
        except UfoError as err:
            raise HTTPException(400, str(err)) from err
        try:
            await asyncio.to_thread(_write_new, path, text, overwrite)
        except FileExistsError as err:
            raise HTTPException(409, f"path: '{name}' exists; confirm to replace it (overwrite)") from err
        except OSError as exc:
            raise HTTPException(400, f"path: cannot write '{name}': {exc.strerror}") from exc
        return {"path": str(path)}

    @app.post("/api/config/load")
    async def load(request: Request) -> dict[str, Any]:
        body = await body_of(request)
        path = inside(body.get("path") or "reco.toml", "path")
        try:  # unknown keys and bad values refused with the messages of `ufo reco --config`
            values = await asyncio.to_thread(engine.config_values, path)
        except UfoError as err:
            raise HTTPException(400, f"path: {err}") from err
        for name in PATH_FIELDS:  # a path below the root shown as the form takes it: relative to the root
            value = values.get(name)
            if isinstance(value, str) and os.path.isabs(value) and Path(value).is_relative_to(root_path):
                values[name] = os.path.relpath(value, root_path)
        return {"values": values}

    app.state.board = board if board is not None else Board()
    add_routes(app, app.state.board)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    return app


def _write_new(path: Path, text: str, overwrite: bool) -> None:
    """Write `text`; without `overwrite` only as a new file ("x": never over one that appeared meanwhile)."""
    with open(path, "w" if overwrite else "x", encoding="utf-8") as f:
        f.write(text)

