"""What may come through the server's door: other sites, other host names, too many or too large uploads.

Unit cases use the Flask test client; the rest run against a real `edgeship serve` under waitress in a
subprocess (its temporary folder set with TMPDIR), talking raw HTTP over a socket where a client library
would tidy the request up. Uploads come from test_finetune's browser-made builders over a real tiny export.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from server_fixtures import write_export, write_static
from test_finetune import BOUNDARY, base_export, browser_upload, multipart  # noqa: F401 - a fixture

from webapp import create_app
from webapp.finetune_store import CREATED_MARKER, created_marker
from webapp.security import SECURITY_HEADERS, bound_hosts

EDGESHIP = str(Path(sys.executable).with_name("edgeship"))
FT_ID = "demo-ft-20261201000000-abcdef"
EVIL = "https://evil.example"
LIMIT = 64 * 1024 * 1024  # the app's MAX_CONTENT_LENGTH, which `edgeship serve` uses
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


class BufferedClient(FlaskClient):
    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def make_app(exports_dir: Path, static: Path, **config) -> Flask:
    app = create_app({"TESTING": True, "EXPORTS_DIR": exports_dir, "STATIC_DIR": static, **config})
    app.test_client_class = BufferedClient
    return app


def fine_tuned(root: Path, export_id: str = FT_ID, marked: bool = True) -> Path:
    """A fine-tuned export as this server leaves it (with its marker), or a look-alike without one."""
    folder = root / export_id
    manifest = write_export(folder, seed=export_id.encode())
    manifest["source"] = {"file": "model.h5", "kind": "h5", "sha256": "0" * 64}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    if marked:
        (folder / CREATED_MARKER).parent.mkdir(parents=True, exist_ok=True)
        (folder / CREATED_MARKER).write_text(json.dumps(created_marker(export_id, "demo")))
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "exports"
    write_export(root / "demo")
    return root


@pytest.fixture
def client(tmp_path: Path, root: Path) -> FlaskClient:
    return make_app(root, write_static(tmp_path / "static")).test_client()


def listing(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


# --- other sites may not change what the server stores ----------------------------------------------------

CROSS_SITE = (
    "refused: this request comes from another web site ({origin}); only the edgeship app this server "
    "serves may upload or delete models: open it at {own}"
)


@pytest.mark.parametrize(
    ("headers", "shown"),
    [
        ({"Origin": EVIL}, "Origin https://evil.example"),
        ({"Origin": "null"}, "Origin null"),
        ({"Origin": "http://localhost:9999"}, "Origin http://localhost:9999"),
        ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site cross-site"),
        ({"Sec-Fetch-Site": "same-site", "Origin": "http://localhost"}, "Sec-Fetch-Site same-site"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT"])
def test_a_state_changing_request_from_another_site_is_refused(
    client: FlaskClient, root: Path, headers: dict, shown: str, method: str
):
    fine_tuned(root)
    before = listing(root)
    url = f"/api/models/{'demo' if method == 'POST' else FT_ID}" + ("/finetuned" if method == "POST" else "")
    response = client.open(url, method=method, headers=headers, data=b"x", content_type=MULTIPART)
    message = CROSS_SITE.format(origin=shown, own="http://localhost")
    assert (response.status_code, response.get_json()) == (403, {"error": message})
    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
    assert listing(root) == before and (root / FT_ID / "manifest.json").is_file()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "http://localhost"}, {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}],
    ids=["no-origin", "own-origin", "same-origin"],
)
def test_the_apps_own_requests_pass(client: FlaskClient, headers: dict):
    response = client.post("/api/models/nope/finetuned", headers=headers, data=b"", content_type=MULTIPART)
    assert (response.status_code, response.get_json()) == (404, {"error": "no export with this id"})


def test_reading_from_another_site_is_left_to_the_browser(client: FlaskClient):
    # A GET changes nothing; CORP same-origin and the missing CORS headers keep its answer from the page.
    response = client.get("/api/models", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200 and "Access-Control-Allow-Origin" not in response.headers


# --- only the host names the server is bound to (DNS rebinding) -------------------------------------------

WRONG_HOST = (
    "this server answers only to {allowed} (the request named {host!r}); open the app at one of those "
    "addresses (from a phone or another machine: serve it with --lan)"
)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8123", "127.0.0.1.evil.example:8123", ""])
@pytest.mark.parametrize("url", ["/", "/api/models", "/models/demo/manifest.json", "/nope"])
def test_a_request_for_another_host_name_is_421(tmp_path: Path, root: Path, host: str, url: str):
    allowed = ["localhost:8123", "127.0.0.1:8123", "[::1]:8123"]
    app = make_app(root, write_static(tmp_path / "static"), ALLOWED_HOSTS=allowed)
    response = app.test_client().get(url, headers={"Host": host})
    message = WRONG_HOST.format(allowed="localhost:8123, 127.0.0.1:8123, [::1]:8123", host=host)
    assert (response.status_code, response.get_json()) == (421, {"error": message})
    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


@pytest.mark.parametrize("host", ["localhost:8123", "127.0.0.1:8123", "[::1]:8123", "LOCALHOST:8123"])
def test_the_bound_host_names_are_answered(tmp_path: Path, root: Path, host: str):
    allowed = ["localhost:8123", "127.0.0.1:8123", "[::1]:8123"]
    app = make_app(root, write_static(tmp_path / "static"), ALLOWED_HOSTS=allowed)
    assert app.test_client().get("/api/models", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", ["localhost:8123", "127.0.0.1:8123", "[::1]:8123"]),
        ("localhost", ["localhost:8123", "127.0.0.1:8123", "[::1]:8123"]),
        ("192.168.1.20", ["localhost:8123", "127.0.0.1:8123", "[::1]:8123", "192.168.1.20:8123"]),
        ("::", ["localhost:8123", "127.0.0.1:8123", "[::1]:8123", "[::]:8123"]),
    ],
)
def test_the_allowed_hosts_are_the_loopback_names_and_the_host_given(host: str, allowed: list[str]):
    assert bound_hosts(host, 8123) == allowed


def test_the_same_name_on_another_port_is_421(tmp_path: Path, root: Path):
    app = make_app(root, write_static(tmp_path / "static"), ALLOWED_HOSTS=["127.0.0.1:8123"])
    response = app.test_client().get("/api/models", headers={"Host": "127.0.0.1:8124"})
    assert response.status_code == 421


# --- deleting a fine-tuned export --------------------------------------------------------------------------


def test_delete_removes_a_fine_tuned_export_this_server_created(client: FlaskClient, root: Path):
    fine_tuned(root)
    response = client.delete(f"/api/models/{FT_ID}", headers={"Origin": "http://localhost"})
    assert (response.status_code, response.get_json()) == (200, {"id": FT_ID, "deleted": True})
    assert listing(root) == ["demo"]  # no hidden leftovers either
    assert [m["id"] for m in client.get("/api/models").get_json()["models"]] == ["demo"]
    assert client.get(f"/models/{FT_ID}/manifest.json").status_code == 404


NOT_OURS = (
    "export '{id}' was not made by this server from a fine-tuned upload, so it is not deleted; edgeship "
    "deletes only the fine-tuned exports it created (remove other folders yourself)"
)


@pytest.mark.parametrize(
    "make",
    [
        lambda root: "demo",  # the base export
        lambda root: fine_tuned(root, marked=False).name,  # a look-alike name without the marker
        lambda root: fine_tuned(root, "alpha").name,  # a marker, but not a fine-tuned id
    ],
    ids=["base", "ft-name-without-marker", "marker-without-ft-name"],
)
def test_delete_never_touches_an_export_edgeship_did_not_create(client: FlaskClient, root: Path, make):
    export_id = make(root)
    if export_id == "alpha":  # a marker naming another id: copied or renamed by someone else
        (root / "alpha" / CREATED_MARKER).write_text(json.dumps(created_marker(FT_ID, "demo")))
    before = {p.relative_to(root) for p in root.rglob("*")}
    response = client.delete(f"/api/models/{export_id}")
    assert (response.status_code, response.get_json()) == (403, {"error": NOT_OURS.format(id=export_id)})
    assert {p.relative_to(root) for p in root.rglob("*")} == before


def test_delete_of_an_unknown_id_is_404(client: FlaskClient, root: Path):
    response = client.delete("/api/models/demo-ft-20261201000000-000000")
    assert (response.status_code, response.get_json()) == (404, {"error": "no export with this id"})


def test_delete_never_removes_the_served_folder_itself(tmp_path: Path, root: Path):
    folder = fine_tuned(root)
    client = make_app(folder, write_static(tmp_path / "static")).test_client()
    response = client.delete(f"/api/models/{FT_ID}")
    assert response.status_code == 409
    assert response.get_json() == {
        "error": "the server serves a single export folder; it deletes fine-tuned exports only from a folder "
        "of exports"
    }
    assert (folder / "manifest.json").is_file()


# --- how many fine-tuned exports the server keeps -----------------------------------------------------------

FULL = (
    "the server keeps at most {count} fine-tuned exports and {mib} MiB of them, and holds {have} "
    "({used}); delete one (Delete in the app's Convert for mobile list, or DELETE /api/models/<id>) and "
    "convert again"
)


@pytest.mark.parametrize(
    ("config", "count", "mib"),
    [({"FINETUNED_MAX_COUNT": 2}, 2, 1024), ({"FINETUNED_MAX_BYTES": 1024}, 20, "0.0")],
    ids=["count", "bytes"],
)
def test_an_upload_when_the_store_is_full_is_507(tmp_path, root: Path, config: dict, count, mib):
    fine_tuned(root)
    if "FINETUNED_MAX_COUNT" in config:
        fine_tuned(root, "demo-ft-20261201000001-abcdef")
    fine_tuned(root, "beta", marked=False)  # not ours: does not count
    used = sum(
        p.stat().st_size for p in root.rglob("*") if p.is_file() and "-ft-" in str(p.relative_to(root))
    )
    before = listing(root)
    client = make_app(root, write_static(tmp_path / "static"), **config).test_client()
    response = client.post("/api/models/demo/finetuned", data=b"", content_type=MULTIPART)
    have = 2 if "FINETUNED_MAX_COUNT" in config else 1
    message = FULL.format(count=count, mib=mib, have=have, used=f"{used:,} bytes")
    assert (response.status_code, response.get_json()) == (507, {"error": message})
    assert listing(root) == before


# --- a real `edgeship serve` -------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    port: int
    tmpdir: Path

    def stored_bytes(self) -> int:
        """Bytes the server holds in its temporary folder: its open files there (waitress' are unlinked)."""
        total = 0
        fds = Path(f"/proc/{self.process.pid}/fd")
        for fd in fds.iterdir():
            try:
                if os.readlink(fd).startswith(str(self.tmpdir)):
                    total += os.stat(fd).st_size
            except FileNotFoundError:
                continue  # closed meanwhile
        named = sum(p.stat().st_size for p in self.tmpdir.rglob("*") if p.is_file())
        return max(total, named)


def start_server(directory: Path, tmpdir: Path) -> Server:
    tmpdir.mkdir(exist_ok=True)
    command = [EDGESHIP, "serve", str(directory), "--port", "0"]
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready and process.stdout else ""
    match = re.search(r" on (http://127\.0\.0\.1:(\d+)/) \(Ctrl\+C to stop\)$", line.rstrip("\n"))
    if not match:
        process.terminate()
        raise AssertionError(f"edgeship serve did not start: {line!r}")
    return Server(process, match.group(1), int(match.group(2)), tmpdir)


@pytest.fixture
def server(tmp_path: Path, root: Path) -> Iterator[Server]:
    running = start_server(root, tmp_path / "tmp")
    yield running
    running.process.terminate()
    running.process.wait(20)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (or, for an answer on a kept-alive connection, goes quiet)."""
    chunks = []
    sock.settimeout(10)
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except TimeoutError:
        pass
    return b"".join(chunks)


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def assert_secure(headers: dict[str, str]) -> None:
    assert {name: headers.get(name.lower()) for name in SECURITY_HEADERS} == SECURITY_HEADERS


def request_head(server: Server, method: str, url: str, extra: str = "") -> bytes:
    return f"{method} {url} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{extra}\r\n".encode()


def exchange(server: Server, first: bytes, rest: Iterable[bytes] = ()) -> tuple[bytes, int]:
    """Sends `first`, and `rest` only when no answer came for it; the answer, and the most stored meanwhile.

    Bytes the server never reads make it reset the connection when it closes after its answer, and the
    answer may be lost with them: so a request the server should refuse part way is sent only up to that
    point, and `rest` goes out (with the server's storage measured at each piece) only when it did not.
    """
    most = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        view = memoryview(first)
        for start in range(0, len(first), 1 << 20):
            sock.sendall(view[start : start + (1 << 20)])
            most = max(most, server.stored_bytes())
        answered, _, _ = select.select([sock], [], [], 5)
        if not answered:
            for piece in rest:
                try:
                    sock.sendall(piece)
                except (BrokenPipeError, ConnectionResetError):
                    break
                most = max(most, server.stored_bytes())
        most = max(most, server.stored_bytes())
        try:
            return read_all(sock), most
        except ConnectionResetError:
            return b"", most


def raw(server: Server, data: bytes) -> bytes:
    return exchange(server, data)[0]


MAX_HEADER = 64 * 1024


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("long-header", 431, "request headers too large: send at most 64 KiB of headers"),
        ("bad-request-line", 400, "malformed HTTP request"),
        ("bad-header", 400, "malformed HTTP request"),
        ("content-length-over", 413, "request body too large"),
    ],
)
def test_waitress_own_errors_carry_the_security_headers(server: Server, name: str, status: int, message):
    long_header = request_head(server, "GET", "/", f"X-Long: {'a' * 100_000}\r\n")
    first, rest = {
        # The first 64 KiB of a 100 KB header line: the server must answer before the rest is sent.
        "long-header": (long_header[:MAX_HEADER], iter([long_header[MAX_HEADER:]])),
        "bad-request-line": (b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", iter(())),
        "bad-header": (request_head(server, "GET", "/", "Bad Header Without Colon\r\n"), iter(())),
        "content-length-over": (
            request_head(server, "POST", "/api/models/demo/finetuned", f"Content-Length: {LIMIT + 1}\r\n"),
            iter(()),
        ),
    }[name]
    code, headers, body = parse(exchange(server, first, rest)[0])
    assert (code, json.loads(body)) == (status, {"error": message})
    assert headers["content-type"] == "application/json"
    assert_secure(headers)


def test_the_served_app_has_the_security_headers_too(server: Server):
    code, headers, body = parse(
        raw(server, request_head(server, "GET", "/api/models", "Connection: close\r\n"))
    )
    assert code == 200 and json.loads(body)["default"] == "demo"
    assert_secure(headers)


MIB = 1 << 20


def chunked(total: int) -> bytes:
    """A chunked body stream of exactly `total` bytes, framing included (the last chunk cut short)."""
    stream = b"".join(b"%x\r\n" % MIB + bytes(MIB) + b"\r\n" for _ in range(total // MIB + 1))
    return stream[:total]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="measures the server's open files in /proc")
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_over_the_limit_is_refused_before_it_is_stored(server: Server, framing: str):
    url = "/api/models/demo/finetuned"
    more = (bytes(MIB) for _ in range(72))  # 72 MiB more than the server should read
    if framing == "content-length":
        first = request_head(server, "POST", url, f"Content-Length: {72 * MIB}\r\n")
    else:
        # Waitress counts a chunked stream with its framing: one byte over the limit is refused.
        stream = chunked(LIMIT + 1 + 8 * MIB)
        first = request_head(server, "POST", url, "Transfer-Encoding: chunked\r\n") + stream[: LIMIT + 1]
        more = (stream[start : start + MIB] for start in range(LIMIT + 1, len(stream), MIB))
    answer, most = exchange(server, first, more)
    assert most <= LIMIT, f"the server stored {most:,} bytes of a refused body"
    code, headers, body = parse(answer)
    assert (code, json.loads(body)) == (413, {"error": "request body too large"})
    assert_secure(headers)


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])  # what the e2e tests and the bench use
def test_the_real_server_answers_its_loopback_names(server: Server, name: str):
    head = b"GET /api/models HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n" % (
        name.encode(),
        server.port,
    )
    assert parse(raw(server, head))[0] == 200


def test_a_request_for_another_host_name_is_421_on_the_real_server(server: Server):
    head = (
        b"GET /api/models HTTP/1.1\r\nHost: rebound.evil.example:%d\r\nConnection: close\r\n\r\n"
        % server.port
    )
    code, headers, body = parse(raw(server, head))
    assert code == 421 and "this server answers only to localhost:" in json.loads(body)["error"]
    assert_secure(headers)


# --- uploads wait in a small queue, pages are still served -------------------------------------------------


def upload(server: Server, body: bytes, results: list, lock: threading.Lock) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    try:
        connection.request(
            "POST", "/api/models/demo/finetuned", body=body, headers={"Content-Type": MULTIPART}
        )
        response = connection.getresponse()
        answer = (response.status, response.getheader("Retry-After"), json.loads(response.read()))
    except OSError as error:  # the server stopped at the end of the test, mid-conversion
        answer = (0, None, {"error": str(error)})
    finally:
        connection.close()
    with lock:
        results.append(answer)


BUSY = (
    "the server is converting other uploads (1 converting, 2 waiting); send this one again in 30 s "
    "(the app does so by itself)"
)


def test_uploads_beyond_the_queue_are_503_at_once_and_pages_are_still_served(
    tmp_path: Path,
    base_export: Path,  # noqa: F811 - the fixture imported above
):
    exports = tmp_path / "exports"
    shutil.copytree(base_export, exports / "demo")
    server = start_server(exports, tmp_path / "tmp")
    try:
        body = multipart(browser_upload(base_export, n=40))
        results: list = []
        lock = threading.Lock()
        threads = [threading.Thread(target=upload, args=(server, body, results, lock)) for _ in range(10)]
        for thread in threads:
            thread.start()
        # The refusals come back while the admitted three still convert (the first also loads TensorFlow).
        for _ in range(600):
            with lock:
                if len(results) >= 7:
                    break
            threading.Event().wait(0.1)
        with lock:
            early = list(results)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        started = time.monotonic()
        connection.request("GET", "/api/models")
        listed = connection.getresponse()
        models = json.loads(listed.read())
        print(f"GET /api/models with 3 uploads in the queue: {1000 * (time.monotonic() - started):.0f} ms")
        with lock:
            finished_before_the_page = [r for r in results if r[0] != 503]
        assert listed.status == 200 and [m["id"] for m in models["models"]] == ["demo"]
        assert [r for r in early if r[0] != 503] == []  # nothing but refusals came back this early
        assert early == [(503, "30", {"error": BUSY})] * 7
        assert finished_before_the_page == []  # the page was answered while all three were in the queue
    finally:
        server.process.terminate()
        server.process.wait(30)
        for thread in threads:
            thread.join(60)


def test_a_converted_upload_can_be_deleted_through_the_real_server(
    tmp_path: Path,
    base_export: Path,  # noqa: F811 - the fixture imported above
):
    exports = tmp_path / "exports"
    shutil.copytree(base_export, exports / "demo")
    server = start_server(exports, tmp_path / "tmp")
    try:
        origin = {"Origin": server.url.rstrip("/")}
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
        body = multipart(browser_upload(base_export, n=40))
        connection.request(
            "POST", "/api/models/demo/finetuned", body=body, headers={"Content-Type": MULTIPART, **origin}
        )
        created = connection.getresponse()
        export_id = json.loads(created.read())["id"]
        assert created.status == 201 and (exports / export_id / CREATED_MARKER).is_file()
        connection.request("DELETE", f"/api/models/{export_id}", headers={"Origin": EVIL})
        refused = connection.getresponse()
        assert refused.status == 403 and json.loads(refused.read())["error"].startswith("refused: ")
        assert (exports / export_id).is_dir()
        connection.request("DELETE", f"/api/models/{export_id}", headers=origin)
        deleted = connection.getresponse()
        assert (deleted.status, json.loads(deleted.read())) == (200, {"id": export_id, "deleted": True})
        assert sorted(p.name for p in exports.iterdir()) == ["demo"]
    finally:
        server.process.terminate()
        server.process.wait(30)
