"""The certificates `edgeship serve --lan` serves HTTPS with: a local CA made once, a leaf it signs.

A phone on the LAN opens the app at an address like https://192.168.1.20:8443, which no public CA can
certify. So edgeship makes its own certificate authority once, in the user's config folder
($XDG_CONFIG_HOME/edgeship, else ~/.config/edgeship; the folder 0700, the CA key 0600), and the user trusts
its certificate on the phone once (the /connect page serves it, never a key). Each `serve --lan` then uses a
leaf certificate for this machine's names and addresses, signed by that CA; the leaf is made again when the
names change or it nears its end. `--cert/--key` use the user's own pair instead (mkcert, a real domain).

ECDSA P-256 keys: Android and iOS accept them and they are made in milliseconds. The leaf lives 397 days,
under the 398 days browsers accept for a server certificate, with the serverAuth usage and the names as
subject alternative names, which is what iOS requires of a certificate from a user-trusted CA.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exporter import parameter
from webapp.serve_error import ServeError

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
LEAF_CERT = "server.pem"
LEAF_KEY = "server-key.pem"
CA_DAYS = 3650
LEAF_DAYS = 397
# A leaf with less than this left is made again, so a phone never meets an expired one mid-session.
RENEW_BEFORE = datetime.timedelta(days=30)
CA_NAME = "edgeship local CA"


@dataclass(frozen=True)
class CertificatePair:
    """A certificate chain file and its key file, as ssl.SSLContext.load_cert_chain takes them."""

    cert: Path
    key: Path
    ca: Path | None  # edgeship's CA certificate (what /connect serves); None for the user's own pair
    names: tuple[str, ...]  # the DNS names and IP addresses the certificate is valid for


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where edgeship keeps its CA: $XDG_CONFIG_HOME/edgeship, else ~/.config/edgeship."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME", "")
    # The XDG spec: a relative value is invalid and is ignored.
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "edgeship"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write_private(path: Path, data: bytes) -> None:
    """Writes `data` to `path`, readable by the user only from the first byte (no chmod after the fact)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)  # a reader sees the old file or the new one, never half of one
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _folder(folder: Path) -> Path:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # edgeship's own folder: it holds a CA key, so only the user may list it
    except OSError as error:
        raise ServeError(
            f"cannot write edgeship's certificate folder {folder} ({error.strerror}); set XDG_CONFIG_HOME to "
            f"a folder you can write, or give your own certificate with {parameter('cert')} and "
            f"{parameter('key')}."
        ) from None
    return folder


def _key_usage(*allowed: str) -> x509.KeyUsage:
    """A KeyUsage with only the `allowed` uses (KeyUsage wants every one of its nine flags named)."""
    uses = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")  # fmt: skip
    return x509.KeyUsage(**{use: use in allowed for use in uses})


def _new_ca(folder: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    now = _now()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage("key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    # The key first: a certificate without its key would be a CA that can sign nothing.
    _write_private(folder / CA_KEY, _key_pem(key))
    _write_private(folder / CA_CERT, cert.public_bytes(serialization.Encoding.PEM))


def _load_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    broken = ServeError(
        f"edgeship's CA in {folder} ({CA_CERT}, {CA_KEY}) is incomplete or damaged; remove those two files "
        "to make a new CA (then trust the new one on your phones again), or give your own certificate with "
        f"{parameter('cert')} and {parameter('key')}."
    )
    try:
        cert = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
        key = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        raise broken from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise broken
    return cert, key


def ensure_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, bool]:
    """edgeship's CA in `folder`: made on the first call, read afterwards; (cert, key, made now)."""
    _folder(folder)
    made = not (folder / CA_CERT).exists() and not (folder / CA_KEY).exists()
    if made:
        _new_ca(folder)
    cert, key = _load_ca(folder)
    return cert, key, made


def _general_names(names: Iterable[str]) -> list[x509.GeneralName]:
    general: list[x509.GeneralName] = []
    for name in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            general.append(x509.DNSName(name))
    return general


def certificate_names(cert: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses (as text) a certificate's subject alternative names hold."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return [*dns, *ips]


def _leaf_is_current(folder: Path, names: list[str], ca_cert: x509.Certificate) -> bool:
    try:
        cert = x509.load_pem_x509_certificate((folder / LEAF_CERT).read_bytes())
        key = serialization.load_pem_private_key((folder / LEAF_KEY).read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    return (
        isinstance(key, ec.EllipticCurvePrivateKey)
        and key.public_key() == cert.public_key()
        and cert.issuer == ca_cert.subject
        and sorted(certificate_names(cert)) == sorted(_canonical(names))
        and cert.not_valid_after_utc - _now() > RENEW_BEFORE
    )


def _canonical(names: Iterable[str]) -> list[str]:
    """Names as certificate_names() gives them back: IP addresses in their normal text form."""
    shown = []
    for name in names:
        try:
            shown.append(str(ipaddress.ip_address(name.strip("[]"))))
        except ValueError:
            shown.append(name.lower())
    return list(dict.fromkeys(shown))


def _new_leaf(folder: Path, names: list[str], ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey):
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_key_usage("digital_signature"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(folder / LEAF_KEY, _key_pem(key))
    # The chain file: the leaf, then the CA, so that a client that lacks the CA is told which one to trust.
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    _write_private(folder / LEAF_CERT, chain)


def local_pair(folder: Path, names: Iterable[str]) -> tuple[CertificatePair, bool]:
    """The CA-signed certificate for `names` (DNS names, IPs), made or renewed when needed; (pair, made)."""
    wanted = _canonical(names)
    ca_cert, ca_key, _ = ensure_ca(folder)
    made = not _leaf_is_current(folder, wanted, ca_cert)
    if made:
        _new_leaf(folder, wanted, ca_cert, ca_key)
    return CertificatePair(folder / LEAF_CERT, folder / LEAF_KEY, folder / CA_CERT, tuple(wanted)), made


def load_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as phones show it: AB:CD:..."""
    return ":".join(f"{byte:02X}" for byte in cert.fingerprint(hashes.SHA256()))


def user_pair(cert: Path, key: Path) -> CertificatePair:
    """The user's own certificate and key (--cert/--key), checked now: a bad file is one line, not a trace."""
    wanted = {"cert": "your certificate (from mkcert, or your domain's)", "key": "the certificate's key"}
    for path, name in ((cert, "cert"), (key, "key")):
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a file"
            raise ServeError(f"{parameter(name)} {path} {what}; give the PEM file of {wanted[name]}.")
    try:
        chain = x509.load_pem_x509_certificates(cert.read_bytes())
    except (OSError, ValueError):
        raise ServeError(
            f"{parameter('cert')} {cert} is not a PEM certificate (-----BEGIN CERTIFICATE-----); give the "
            "certificate file mkcert or your certificate authority gave you."
        ) from None
    try:
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):  # TypeError: it needs a password
        raise ServeError(
            f"{parameter('key')} {key} is not an unencrypted PEM private key; give the key file made with "
            f"{parameter('cert')} (decrypt it first with `openssl pkey -in KEY -out KEY.pem`)."
        ) from None
    if private.public_key() != chain[0].public_key():
        raise ServeError(
            f"{parameter('key')} {key} is not the key of {parameter('cert')} {cert}; give the key made with "
            "that certificate."
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)  # what the server will do: a pair it refuses is refused now
    except (ssl.SSLError, OSError) as error:
        raise ServeError(
            f"{parameter('cert')} {cert} and {parameter('key')} {key} cannot serve HTTPS ({error}); give a "
            "PEM certificate and its unencrypted PEM key."
        ) from None
    return CertificatePair(cert, key, None, tuple(certificate_names(chain[0])))
