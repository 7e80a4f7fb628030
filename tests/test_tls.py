"""`edgeship serve --lan`: the local CA (made once, its key the user's only), the leaf it signs, the user's own
`--cert/--key`, and a real HTTPS server that keeps the door of the plain one: security headers, body and
header limits answered as JSON, only the names it serves.

The servers run as the real command in a subprocess, with XDG_CONFIG_HOME in tmp_path, and are reached over
loopback only, never through the machine's LAN address: a client asks for phone.test (`--name phone.test`)
and checks the certificate against the CA edgeship made, as a phone that trusts it would.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import queue
import re
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from server_fixtures import write_export, write_static

from webapp import create_app, lan, tls
from webapp.connect import CA_MIME, Connect
from webapp.security import SECURITY_HEADERS

EDGESHIP = str(Path(sys.executable).with_name("edgeship"))
LIMIT = 64 * 1024 * 1024  # the app's MAX_CONTENT_LENGTH
MIB = 1 << 20
SERVING = re.compile(r"^Serving 1 export\(s\) from (\S+) on (https://(\S+):(\d+)/) \(Ctrl\+C to stop\)$")


# --- the CA and the leaf ----------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leaf(folder: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate((folder / tls.LEAF_CERT).read_bytes())


def test_the_ca_is_made_once_readable_by_the_user_only_and_reused(tmp_path: Path):
    folder = tls.config_dir({"XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert folder == tmp_path / "config" / "edgeship"
    first, made = tls.local_pair(folder, ["192.168.1.20", "localhost", "phone.test"])
    assert made and mode(folder) == 0o700
    assert mode(folder / tls.CA_KEY) == 0o600 and mode(folder / tls.LEAF_KEY) == 0o600
    ca_bytes = (folder / tls.CA_CERT).read_bytes()
    ca = x509.load_pem_x509_certificate(ca_bytes)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf_bytes = (folder / tls.LEAF_CERT).read_bytes()

    second, made_again = tls.local_pair(folder, ["phone.test", "LOCALHOST", "192.168.1.20"])  # same names
    assert not made_again and (second.cert, second.key, second.ca) == (first.cert, first.key, first.ca)
    assert (folder / tls.CA_CERT).read_bytes() == ca_bytes and (
        folder / tls.LEAF_CERT
    ).read_bytes() == leaf_bytes
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [tls.CA_CERT, tls.CA_KEY, tls.LEAF_CERT, tls.LEAF_KEY]
    )  # no temporary file left behind


def test_the_leaf_holds_the_names_is_signed_by_the_ca_and_is_made_again_when_they_change(tmp_path: Path):
    folder = tmp_path / "edgeship"
    tls.local_pair(folder, ["192.168.1.20", "localhost", "127.0.0.1", "vm", "phone.test"])
    ca = tls.load_certificate(folder / tls.CA_CERT)
    cert = leaf(folder)
    cert.verify_directly_issued_by(ca)
    assert sorted(tls.certificate_names(cert)) == [
        "127.0.0.1",
        "192.168.1.20",
        "localhost",
        "phone.test",
        "vm",
    ]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]  # what iOS requires
    assert cert.not_valid_after_utc - cert.not_valid_before_utc <= datetime.timedelta(days=398)

    _, made = tls.local_pair(folder, ["10.0.0.7", "localhost", "127.0.0.1", "vm", "phone.test"])  # moved
    assert made and "10.0.0.7" in tls.certificate_names(leaf(folder))
    assert tls.load_certificate(folder / tls.CA_CERT) == ca  # the CA phones trust stays


def test_a_leaf_near_its_end_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "edgeship"
    tls.local_pair(folder, ["localhost"])
    before = leaf(folder).serial_number
    monkeypatch.setattr(tls, "RENEW_BEFORE", datetime.timedelta(days=tls.LEAF_DAYS + 1))  # now "near the end"
    _, made = tls.local_pair(folder, ["localhost"])
    assert made and leaf(folder).serial_number != before


def test_a_damaged_ca_is_one_line_and_is_left_as_it_is(tmp_path: Path):
    folder = tmp_path / "edgeship"
    tls.local_pair(folder, ["localhost"])
    (folder / tls.CA_KEY).write_bytes(b"not a key")
    with pytest.raises(tls.ServeError) as raised:
        tls.local_pair(folder, ["localhost"])
    assert str(raised.value) == (
        f"edgeship's CA in {folder} (ca.pem, ca-key.pem) is incomplete or damaged; remove those two files to "
        "make a new CA (then trust the new one on your phones again), or give your own certificate with cert "
        "and key."
    )
    assert (folder / tls.CA_KEY).read_bytes() == b"not a key"


# --- the user's own certificate ----------------------------------------------------------------------------


def own_pair(folder: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for `names`, as mkcert or a real domain would give."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "own.pem", folder / "own-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([EDGESHIP, *args], capture_output=True, text=True, env=env, timeout=60)


def fine_tunable(folder: Path) -> None:
    """Gives the export a tfjs-fp32 model.json the fine-tune route accepts as a base, so that it reads uploads."""
    manifest = json.loads((folder / "manifest.json").read_text())
    model_json = json.dumps({"modelTopology": {"config": {"layers": []}}, "weightsManifest": []}).encode()
    (folder / "tfjs/fp32/model.json").write_bytes(model_json)
    variant = manifest["variants"]["tfjs-fp32"]
    variant["files"][0].update(bytes=len(model_json), sha256=hashlib.sha256(model_json).hexdigest())
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def exports_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exports")
    write_export(root / "demo")
    fine_tunable(root / "demo")
    return root


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "tmp").mkdir()
    return {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "TMPDIR": str(tmp_path / "tmp")}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-cert-file", "ServeError: --cert {d}/nope.pem does not exist; give the PEM file of your "
         "certificate (from mkcert, or your domain's)."),
        ("no-key-file", "ServeError: --key {d}/nope-key.pem does not exist; give the PEM file of the "
         "certificate's key."),
        ("cert-is-a-folder", "ServeError: --cert {d} is not a file; give the PEM file of your certificate "
         "(from mkcert, or your domain's)."),
        ("key-of-another-cert", "ServeError: --key {d}/other/own-key.pem is not the key of --cert "
         "{d}/own.pem; give the key made with that certificate."),
        ("cert-not-pem", "ServeError: --cert {d}/own-key.pem is not a PEM certificate (-----BEGIN "
         "CERTIFICATE-----); give the certificate file mkcert or your certificate authority gave you."),
        ("key-not-pem", "ServeError: --key {d}/own.pem is not an unencrypted PEM private key; give the key "
         "file made with --cert (decrypt it first with `openssl pkey -in KEY -out KEY.pem`)."),
        ("cert-without-key", "ServeError: --cert needs --key too: give your certificate and its key, or "
         "neither (then edgeship makes its own)."),
    ],
)  # fmt: skip
def test_a_bad_cert_or_key_is_one_line_and_exit_2(
    tmp_path: Path, exports_dir: Path, env: dict[str, str], case: str, message: str
):
    d = tmp_path / "own"
    cert, key = own_pair(d, ["mybox.test"])
    _, other_key = own_pair(d / "other", ["other.test"])
    flags = {
        "no-cert-file": ["--cert", str(d / "nope.pem"), "--key", str(key)],
        "no-key-file": ["--cert", str(cert), "--key", str(d / "nope-key.pem")],
        "cert-is-a-folder": ["--cert", str(d), "--key", str(key)],
        "key-of-another-cert": ["--cert", str(cert), "--key", str(other_key)],
        "cert-not-pem": ["--cert", str(key), "--key", str(key)],
        "key-not-pem": ["--cert", str(cert), "--key", str(cert)],
        "cert-without-key": ["--cert", str(cert)],
    }[case]
    done = run_cli("serve", str(exports_dir), "--lan", "--port", "0", *flags, env=env)
    assert (done.returncode, done.stderr, done.stdout) == (2, message.format(d=d) + "\n", "")
    assert not (tmp_path / "config").exists()  # the user's own pair: no CA made


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (["--lan", "--host", "0.0.0.0"], "argument --host: not allowed with argument --lan"),
        (["--lan", "--name", "bad_name!"], "argument --name: 'bad_name!' is not a host name; give a name such "
         "as mybox.lan or phone.test"),
    ],
)  # fmt: skip
def test_serve_flags_that_do_not_go_together_are_refused(
    exports_dir: Path, env: dict[str, str], flags: list[str], error: str
):
    done = run_cli("serve", str(exports_dir), *flags, env=env)
    assert done.returncode == 2 and done.stderr.splitlines()[-1] == f"edgeship serve: error: {error}"


def test_name_without_https_is_one_line_and_exit_2(exports_dir: Path, env: dict[str, str]):
    done = run_cli("serve", str(exports_dir), "--name", "phone.test", "--port", "0", env=env)
    assert (done.returncode, done.stderr) == (
        2,
        "ServeError: --name phone.test is for HTTPS, which a plain serve does not speak; add --lan (or --cert "
        "and --key).\n",
    )


def test_a_port_in_use_is_one_line_and_exit_2(exports_dir: Path, env: dict[str, str]):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("serve", str(exports_dir), "--lan", "--port", str(port), env=env)
    assert (done.returncode, done.stderr, done.stdout) == (
        2,
        f"ServeError: cannot listen on 0.0.0.0:{port} (Address already in use); choose another --port.\n",
        "",
    )


# --- a real `edgeship serve --lan` ---------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen
    lines: list[str]
    port: int
    config: Path

    def context(self) -> ssl.SSLContext:
        """A client that trusts edgeship's CA only, as a phone that installed it."""
        return ssl.create_default_context(cafile=str(self.config / "edgeship" / tls.CA_CERT))


def start(directory: Path, env: dict[str, str], *flags: str) -> Server:
    command = [EDGESHIP, "serve", str(directory), "--port", "0", *flags]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    printed: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [printed.put(line) for line in process.stdout or []], daemon=True).start()
    lines: list[str] = []
    last = "Also at" if "--cert" in flags else "Certificate authority: "
    while not lines or not lines[-1].startswith(last):
        try:
            lines.append(printed.get(timeout=30).rstrip("\n"))
        except queue.Empty:
            process.terminate()
            raise AssertionError(f"edgeship serve did not start: {lines}") from None
    match = SERVING.match(lines[0])
    assert match, lines[0]
    return Server(process, lines, int(match.group(4)), Path(env["XDG_CONFIG_HOME"]))


@pytest.fixture
def server(exports_dir: Path, env: dict[str, str]) -> Iterator[Server]:
    running = start(exports_dir, env, "--lan", "--name", "phone.test")
    yield running
    running.process.terminate()
    running.process.wait(20)


@contextlib.contextmanager
def connect(port: int, context: ssl.SSLContext, name: str) -> Iterator[ssl.SSLSocket]:
    """A TLS connection to loopback that asks for `name` (SNI) and checks the certificate against it."""
    raw_socket = socket.create_connection(("127.0.0.1", port), timeout=30)
    with raw_socket, context.wrap_socket(raw_socket, server_hostname=name) as sock:
        yield sock


def early_answer(sock: ssl.SSLSocket) -> bytes:
    """Whatever answer has come so far, without waiting (a TLS 1.3 session ticket alone is no answer)."""
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return b""
    finally:
        sock.settimeout(30)


def exchange(server: Server, data: bytes, name: str = "phone.test", rest: Iterable[bytes] = ()) -> bytes:
    """Sends `data` over TLS to loopback as `name`, and `rest` only while no answer has come; the answer."""
    with connect(server.port, server.context(), name) as sock:
        sock.sendall(data)
        chunks = []
        for piece in rest:
            chunks.append(early_answer(sock))
            if chunks[-1]:
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError, ssl.SSLError):
            pass
        return b"".join(chunks)


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def get(server: Server, path: str, host: str | None = None, extra: str = "") -> tuple[int, dict, bytes]:
    host = host or f"phone.test:{server.port}"
    head = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n"
    return parse(exchange(server, head.encode()))


def assert_secure(headers: dict[str, str]) -> None:
    assert {name: headers.get(name.lower()) for name in SECURITY_HEADERS} == SECURITY_HEADERS


def test_serve_lan_prints_the_addresses_a_qr_code_and_the_ca(server: Server, exports_dir: Path):
    match = SERVING.match(server.lines[0])
    assert match and match.group(1) == str(exports_dir)
    port = server.port
    addresses = lan.lan_addresses()
    assert match.group(3) == (addresses[0] if addresses else lan.machine_names()[0])
    also = server.lines[1]
    for name in ["localhost", "127.0.0.1", "phone.test", *lan.machine_names(), *addresses[1:]]:
        assert f"https://{name}:{port}/" in also
    page = f"{match.group(2)}connect"
    assert server.lines[2] == (
        f"On a phone on this network, scan this code or open {page}: it shows how to trust the certificate "
        "(once per phone) and install the app."
    )
    assert "\n".join(server.lines[3:-1]) == lan.terminal_qr(page).rstrip("\n")
    assert set("".join(server.lines[3:-1])) <= {"█", "▀", "▄", " "}  # half blocks: two module rows a line
    ca = server.config / "edgeship" / tls.CA_CERT
    fingerprint = tls.fingerprint(tls.load_certificate(ca))
    assert server.lines[-1] == f"Certificate authority: {ca} (made now), SHA-256 {fingerprint}"


def test_a_second_run_reuses_the_ca(exports_dir: Path, env: dict[str, str]):
    first = start(exports_dir, env, "--lan")
    first.process.terminate()
    first.process.wait(20)
    ca = (first.config / "edgeship" / tls.CA_CERT).read_bytes()
    again = start(exports_dir, env, "--lan")
    try:
        assert again.lines[-1].startswith(
            f"Certificate authority: {first.config / 'edgeship' / 'ca.pem'} (made earlier)"
        )
        assert (first.config / "edgeship" / tls.CA_CERT).read_bytes() == ca
    finally:
        again.process.terminate()
        again.process.wait(20)


def test_the_https_server_answers_its_names_with_the_security_headers(server: Server):
    names = ["phone.test", "localhost", "127.0.0.1", *lan.machine_names(), *lan.lan_addresses()]
    for name in names:  # a Host header only: every request goes to loopback
        code, headers, body = get(server, "/api/models", f"{name}:{server.port}")
        assert code == 200 and json.loads(body)["default"] == "demo", name
        assert_secure(headers)
    code, headers, body = get(server, "/api/models", f"rebound.evil.example:{server.port}")
    message = json.loads(body)["error"]
    assert code == 421 and f"phone.test:{server.port}" in message and f"localhost:{server.port}" in message
    assert_secure(headers)


def test_the_certificate_is_the_cas_for_phone_test(server: Server):
    with connect(server.port, server.context(), "phone.test") as sock:
        der = sock.getpeercert(binary_form=True)
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
    assert der is not None
    served = x509.load_der_x509_certificate(der)
    served.verify_directly_issued_by(tls.load_certificate(server.config / "edgeship" / tls.CA_CERT))
    assert "phone.test" in tls.certificate_names(served)


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("long-header", 431, "request headers too large: send at most 64 KiB of headers"),
        ("bad-request-line", 400, "malformed HTTP request"),
        ("content-length-over", 413, "request body too large"),
    ],
)
def test_the_https_servers_own_errors_are_json_with_the_security_headers(
    server: Server, name: str, status: int, message: str
):
    host = f"Host: phone.test:{server.port}\r\n"
    request = {
        "long-header": f"GET / HTTP/1.1\r\n{host}X-Long: {'a' * 100_000}\r\n\r\n",
        "bad-request-line": f"GET / HTTP/1.1 extra\r\n{host}\r\n",
        "content-length-over": f"POST /api/models/demo/finetuned HTTP/1.1\r\n{host}Content-Length: {LIMIT + 1}"
        "\r\n\r\n",
    }[name]
    code, headers, body = parse(exchange(server, request.encode()))
    assert (code, json.loads(body)) == (status, {"error": message})
    assert headers["content-type"] == "application/json"
    assert_secure(headers)


def stored(server: Server, tmpdir: Path) -> int:
    """Bytes the server holds in its temporary folder (open files there, unlinked or not)."""
    total = 0
    for fd in Path(f"/proc/{server.process.pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith(str(tmpdir)):
                total += os.stat(fd).st_size
        except FileNotFoundError:
            continue
    return max(total, sum(p.stat().st_size for p in tmpdir.rglob("*") if p.is_file()))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="measures the server's open files in /proc")
def test_a_chunked_body_over_the_limit_is_refused_before_more_is_stored(server: Server, env: dict[str, str]):
    head = (
        f"POST /api/models/demo/finetuned HTTP/1.1\r\nHost: phone.test:{server.port}\r\n"
        f"Origin: https://phone.test:{server.port}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"%x\r\n" % MIB + bytes(MIB) + b"\r\n"
    part = b'--x\r\nContent-Disposition: form-data; name="weights"; filename="w.bin"\r\n\r\n'
    most = [0]

    def pieces() -> Iterator[bytes]:
        yield b"%x\r\n" % len(part) + part + b"\r\n"
        for _ in range(72):  # 72 MiB: 8 over the limit
            most[0] = max(most[0], stored(server, Path(env["TMPDIR"])))
            yield chunk

    code, headers, body = parse(exchange(server, head, rest=pieces()))
    assert (code, json.loads(body)) == (413, {"error": "request body too large"})
    assert most[0] <= LIMIT
    assert_secure(headers)


def test_connect_serves_the_qr_code_the_ca_certificate_and_never_a_key(server: Server):
    code, headers, page = get(server, "/connect")
    text = page.decode()
    assert code == 200 and headers["content-type"].startswith("text/html")
    assert_secure(headers)  # the app's CSP: the page has no script and no inline style
    assert "<script" not in text and "style=" not in text
    assert 'src="/connect/qr.svg"' in text and 'href="/connect/edgeship-ca.crt"' in text
    assert "Android" in text and "Certificate Trust Settings" in text and "Install a certificate" in text
    ca = tls.load_certificate(server.config / "edgeship" / tls.CA_CERT)
    assert tls.fingerprint(ca) in text
    code, headers, svg = get(server, "/connect/qr.svg")
    addresses = lan.lan_addresses()
    first = addresses[0] if addresses else lan.machine_names()[0]
    assert (code, headers["content-type"]) == (200, "image/svg+xml; charset=utf-8")
    assert svg == lan.svg_qr(f"https://{first}:{server.port}/")

    code, headers, der = get(server, "/connect/edgeship-ca.crt")
    assert (code, headers["content-type"]) == (200, CA_MIME)
    assert x509.load_der_x509_certificate(der) == ca
    code, headers, pem = get(server, "/connect/edgeship-ca.pem")
    assert (code, headers["content-type"], x509.load_pem_x509_certificate(pem)) == (200, CA_MIME, ca)
    for path in ["/connect/ca-key.pem", "/connect/server-key.pem", "/connect/../ca-key.pem", "/ca-key.pem"]:
        code, _, body = get(server, path)
        assert code == 404 and b"PRIVATE KEY" not in body, path


def test_serve_with_your_own_certificate_uses_it_and_offers_no_ca(
    tmp_path: Path, exports_dir: Path, env: dict[str, str]
):
    cert, key = own_pair(tmp_path / "own", ["mybox.test"])
    running = start(exports_dir, env, "--cert", str(cert), "--key", str(key))
    try:
        assert running.lines[0].endswith(f"on https://mybox.test:{running.port}/ (Ctrl+C to stop)")
        context = ssl.create_default_context(cafile=str(cert))
        with connect(running.port, context, "mybox.test") as sock:
            served = sock.getpeercert(binary_form=True)
            sock.sendall(
                f"GET /api/models HTTP/1.1\r\nHost: mybox.test:{running.port}\r\nConnection: close\r\n\r\n".encode()
            )
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert served == x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        assert parse(answer)[0] == 200
        assert not (tmp_path / "config" / "edgeship").exists()  # no CA made for nothing
    finally:
        running.process.terminate()
        running.process.wait(20)


# --- /connect without --lan ---------------------------------------------------------------------------------


def test_connect_without_lan_says_how_to_start_it(tmp_path: Path, exports_dir: Path):
    client = create_app(
        {"EXPORTS_DIR": exports_dir, "STATIC_DIR": write_static(tmp_path / "static")}
    ).test_client()
    page = client.get("/connect")
    assert page.status_code == 200 and "edgeship serve DIR --lan" in page.get_data(as_text=True)
    assert client.get("/connect/edgeship-ca.crt").status_code == 404
    assert client.get("/connect/qr.svg").status_code == 404


def test_connect_with_your_own_certificate_serves_no_ca(tmp_path: Path, exports_dir: Path):
    connect = Connect("https://mybox.test:8443/", (), None, None)
    app = create_app(
        {"EXPORTS_DIR": exports_dir, "STATIC_DIR": write_static(tmp_path / "static"), "CONNECT": connect}
    )
    client = app.test_client()
    text = client.get("/connect").get_data(as_text=True)
    assert "https://mybox.test:8443/" in text and "edgeship-ca.crt" not in text
    assert client.get("/connect/edgeship-ca.crt").status_code == 404
