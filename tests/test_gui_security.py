"""The GUI under hostile requests, against a live server on 127.0.0.1: symbolic links out of the
root, cross-site and rebinding requests, missing tokens, config files over data, malformed
bodies, and outputs checked before a run says ready."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from tests.test_gui import Server  # noqa: E402
from ufo.core.errors import UsageError  # noqa: E402
from ufo.gui.app import create_app  # noqa: E402

ANGLES, ROWS, WIDTH = 32, 4, 24


def digest(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """root/ with a small scan, and outside/ with what the GUI must never touch."""
    base = tmp_path_factory.mktemp("guisec")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    rng = np.random.default_rng(3)
    tifffile.imwrite(root / "proj.tif", (1 + rng.random((ANGLES, ROWS, WIDTH))).astype(np.float32), photometric="minisblack")
    tifffile.imwrite(outside / "secret.tif", np.ones((ANGLES, ROWS, WIDTH), np.float32), photometric="minisblack")
    import h5py

    with h5py.File(outside / "secret.h5", "w") as f:
        f["data"] = np.ones((ANGLES, ROWS, WIDTH), np.float32)
    os.symlink(outside / "secret.h5", root / "x.h5")
    os.symlink(outside / "secret.h5", root / "x.nx")
    os.symlink(outside / "secret.h5", root / "up.H5")
    os.symlink(outside / "secret.tif", root / "s.tif")
    os.symlink(outside, root / "away")
    (root / "mixed").mkdir()
    tifffile.imwrite(root / "mixed" / "a.tif", np.ones((ROWS, WIDTH), np.float32))
    os.symlink(outside / "secret.tif", root / "mixed" / "b.tif")
    (outside / "notes.toml").write_text("[reco]\n")
    os.symlink(outside / "notes.toml", root / "notes.toml")
    return root, outside


@pytest.fixture(scope="module")
def server(place):
    server = Server(place[0])
    yield server
    server.stop()


FORM = {"projections": "proj.tif", "output": "out/slice-%03i.tif", "overwrite": True}


def test_symbolic_links_out_of_the_root_are_refused(server, place):
    outside = place[1]
    before = {name: digest(outside / name) for name in ("secret.h5", "secret.tif", "notes.toml")}
    for path in ("x.h5:/data", "x.nx", "x.nx:/entry", "x.h5", "up.H5:/data", "s.tif", "away/secret.tif",
                 "away/*.tif", "*/secret.tif", "mixed", "mixed/*.tif", str(outside / "secret.tif")):
        for endpoint in ("/api/axis", "/api/validate", "/api/runs"):
            response = server.post(f"{server.url}{endpoint}", json={**FORM, "projections": path}, timeout=30)
            assert response.status_code == 403, (endpoint, path, response.status_code, response.text)
            assert "outside the GUI's root" in response.json()["detail"]
    for output in ("x.h5:/out", "x.nx", "away/slice-%03i.tif", "s.tif", "x.h5:/../../escape"):
        response = server.post(f"{server.url}/api/runs", json={**FORM, "output": output}, timeout=30)
        assert response.status_code in (400, 403), (output, response.status_code, response.text)
    for path in ("notes.toml", "away/new.toml"):
        response = server.post(f"{server.url}/api/config/save", json={"path": path, "values": {}, "overwrite": True})
        assert response.status_code == 403, (path, response.text)
    assert server.post(f"{server.url}/api/config/load", json={"path": "away/notes.toml"}).status_code == 403
    assert server.get(f"{server.url}/api/files", params={"path": "away"}).status_code == 403
    assert not (outside / "new.toml").exists()
    assert {name: digest(outside / name) for name in before} == before


def test_config_files_are_toml_and_never_replace_a_file_unasked(server, place):
    root = place[0]
    proj = digest(root / "proj.tif")
    for name in ("proj.tif", "settings.json", "settings", "reco.toml.tif"):
        response = server.post(f"{server.url}/api/config/save", json={"path": name, "values": {"axis": "3"}, "overwrite": True})
        assert response.status_code == 400 and "toml" in response.json()["detail"], (name, response.text)
    assert digest(root / "proj.tif") == proj
    first = server.post(f"{server.url}/api/config/save", json={"path": "a.toml", "values": {"axis": "3"}})
    assert first.status_code == 200
    again = server.post(f"{server.url}/api/config/save", json={"path": "a.toml", "values": {"axis": "4"}})
    assert again.status_code == 409 and "exists" in again.json()["detail"]
    assert 'axis = "3"' in (root / "a.toml").read_text()
    confirmed = server.post(f"{server.url}/api/config/save", json={"path": "a.toml", "values": {"axis": "4"},
                                                                   "overwrite": True})
    assert confirmed.status_code == 200 and 'axis = "4"' in (root / "a.toml").read_text()


def test_cross_site_and_rebinding_requests_are_refused(server, place):
    root = place[0]
    auth = {"Authorization": f"token {server.token}"}
    url = f"{server.url}/api/config/save"
    body = '{"path": "csrf.toml", "values": {}}'
    for headers in ({"Origin": "http://evil.example", "Content-Type": "text/plain"},
                    {"Origin": "http://evil.example", "Content-Type": "application/json"},
                    {"Origin": "null", "Content-Type": "application/json"},
                    {"Origin": "http://127.0.0.1:1", "Content-Type": "application/json"},  # another local site
                    {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
                    {"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"}):
        for endpoint in ("/api/config/save", "/api/runs", "/api/validate"):
            response = httpx.post(f"{server.url}{endpoint}", content=body, headers={**auth, **headers})
            assert response.status_code == 403, (endpoint, headers, response.status_code)
    # a body that is not JSON (the kind a plain HTML form sends without preflight) changes nothing
    response = httpx.post(url, content=body, headers={**auth, "Content-Type": "text/plain"})
    assert response.status_code == 415
    # DNS rebinding: a foreign name that resolves to 127.0.0.1
    response = httpx.get(f"{server.url}/api/schema", headers={**auth, "Host": f"evil.example:{server.port}"})
    assert response.status_code == 403
    assert not (root / "csrf.toml").exists()
    # the GUI's own page, same origin, works
    same = {**auth, "Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    assert httpx.post(f"{server.url}/api/validate", json=FORM, headers=same).status_code == 200


def test_a_token_is_needed_also_on_loopback(server):
    assert httpx.get(f"{server.url}/api/schema").status_code == 403
    assert httpx.get(f"{server.url}/").status_code == 403
    assert httpx.post(f"{server.url}/api/runs", json=FORM).status_code == 403
    assert httpx.get(f"{server.url}/api/schema", headers={"Authorization": "token x"}).status_code == 403
    page = httpx.get(server.page_url)
    cookie = f"ufo_token-{server.port}"
    assert page.status_code == 200 and page.cookies.get(cookie) == server.token
    assert httpx.get(f"{server.url}/api/schema", cookies={cookie: server.token}).status_code == 200
    assert httpx.get(f"{server.url}/api/schema", cookies={"ufo_token-1": server.token}).status_code == 403
    other = create_app(".")
    assert other.state.token and other.state.token != server.token  # one per start


def test_an_empty_token_is_refused(tmp_path):
    for token in ("", "  "):
        with pytest.raises(UsageError, match="empty"):
            create_app(str(tmp_path), token)
    done = subprocess.run([sys.executable, "-m", "ufo", "gui", "--token", "", "--root", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "token" in done.stderr and "Traceback" not in done.stderr


def test_malformed_bodies_are_4xx_naming_the_field(server):
    def post(endpoint, **kw):
        return server.post(f"{server.url}{endpoint}", timeout=30, **kw)

    headers = {"Content-Type": "application/json"}
    for endpoint in ("/api/validate", "/api/axis", "/api/runs", "/api/config/save", "/api/config/load"):
        for content in ("{not json", "[1, 2]", '"text"', "null"):
            response = post(endpoint, content=content, headers=headers)
            assert 400 <= response.status_code < 500, (endpoint, content, response.status_code, response.text)
    cases = [("/api/runs", {**FORM, "projections": 5}, "projections"),
             ("/api/runs", {**FORM, "projections": ["a", "b"]}, "projections"),
             ("/api/runs", {**FORM, "overwrite": "yes"}, "overwrite"),
             ("/api/runs", {**FORM, "axis": {"x": 1}}, "axis"),
             ("/api/runs", {**FORM, "region": 7}, "region"),
             ("/api/runs", {**FORM, "energy": [1]}, "energy"),
             ("/api/runs", {**FORM, "bogus": 1}, "bogus"),
             ("/api/axis", {**FORM, "crop_width": "wide"}, "crop_width"),
             ("/api/config/save", {"path": "b.toml", "values": "x"}, "values"),
             ("/api/config/save", {"path": "b.toml", "values": {"axis": [1]}}, "axis"),
             ("/api/config/save", {"path": 5, "values": {}}, "path"),
             ("/api/config/save", {"path": "c.toml", "values": {}, "overwrite": "yes"}, "overwrite"),
             ("/api/config/load", {"path": ["x"]}, "path")]
    for endpoint, body, field in cases:
        response = post(endpoint, json=body)
        assert 400 <= response.status_code < 500, (endpoint, body, response.status_code, response.text)
        assert field in response.json()["detail"], (endpoint, body, response.text)
    errors = post("/api/validate", json={**FORM, "overwrite": "yes"}).json()["errors"]
    assert "overwrite" in errors


def test_outputs_are_checked_before_a_run_says_ready(server, place):
    root, _ = place
    proj = digest(root / "proj.tif")
    errors = post_validate(server, {**FORM, "output": "proj.tif"})
    assert "output" in errors and "is input" in errors["output"] and "proj.tif" in errors["output"]
    response = server.post(f"{server.url}/api/runs", json={**FORM, "output": "proj.tif"})
    assert response.status_code == 400 and "is input" in response.json()["detail"]
    assert digest(root / "proj.tif") == proj
    tifffile.imwrite(root / "done.tif", np.zeros((2, 2), np.float32))
    errors = post_validate(server, {**FORM, "output": "done.tif", "overwrite": False})
    assert "output" in errors and "exists" in errors["output"]
    assert server.post(f"{server.url}/api/runs", json={**FORM, "output": "done.tif", "overwrite": False}).status_code == 400
    (root / "afile").write_text("x")
    errors = post_validate(server, {**FORM, "output": "afile/slice-%03i.tif"})
    assert "output" in errors and "not a directory" in errors["output"]
    # the axis view writes nothing: an existing output does not stop it
    assert server.post(f"{server.url}/api/axis", json={**FORM, "output": "done.tif", "overwrite": False},
                       timeout=60).status_code == 200
    assert post_validate(server, FORM) == {}


def post_validate(server, form):
    response = server.post(f"{server.url}/api/validate", json=form, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["errors"]


def test_an_angles_file_is_kept_in_the_root_and_its_contents_never_shown(server, place):
    """angles_file was left out of the fields kept below the root: /etc/passwd or /proc/self/environ
    was read for the token's holder, its first word shown in the error ("could not convert string to
    float: 'root:*:...'"), and a relative name was read from the GUI's own folder."""
    root, outside = place
    (outside / "angles.txt").write_text("secret-word 1 2\n")
    (root / "words.txt").write_text("hunter2 is my password\n")
    (root / "angles.txt").write_text(" ".join(str(a) for a in np.linspace(0, 180, ANGLES, endpoint=False)))
    for path in (str(outside / "angles.txt"), "/etc/passwd", "away/angles.txt", "../outside/angles.txt"):
        for endpoint in ("/api/validate", "/api/runs", "/api/axis"):
            response = server.post(f"{server.url}{endpoint}", json={**FORM, "angles_file": path}, timeout=30)
            assert response.status_code == 403 and "secret-word" not in response.text, (endpoint, path, response.text)
    response = server.post(f"{server.url}/api/validate", json={**FORM, "angles_file": "words.txt"}, timeout=30)
    assert "hunter2" not in response.text and "no list of numbers" in response.text, response.text
    good = server.post(f"{server.url}/api/validate", json={**FORM, "angles_file": "angles.txt"}, timeout=30)
    assert good.status_code == 200 and "angles_file" not in good.json().get("errors", {}), good.text
