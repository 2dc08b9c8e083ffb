"""Certificates for a local control plane: one CA, the API server's serving certificate, an admin
client certificate, and the service-account signing key pair. Pure: builds bytes, writes nothing."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)

# Names the API server answers to, locally and as the in-cluster `kubernetes` Service.
SERVING_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVING_IPS = ("127.0.0.1", "10.0.0.1")


@dataclass(frozen=True)
class PEMPair:
    """A certificate (or public key) and its private key, both PEM-encoded."""

    cert: bytes
    key: bytes


@dataclass(frozen=True)
class PKI:
    """Everything the API server and its admin need to trust each other."""

    ca: PEMPair
    serving: PEMPair
    admin: PEMPair
    service_account: PEMPair  # cert holds the public key


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
    now: datetime.datetime,
) -> PEMPair:
    key = _key()
    builder = (
        _builder(subject, ca_name, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return PEMPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def generate(now: datetime.datetime | None = None) -> PKI:
    """A fresh CA and the certificates it signs."""
    now = now or datetime.datetime.now(datetime.UTC)
    ca_key = _key()
    ca_name = _name("checkout-operator local CA")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    serving_sans: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVING_DNS_NAMES]
    serving_sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVING_IPS]
    # The API server signs service-account tokens with RSA; it accepts any PEM public key file.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_public = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PKI(
        ca=PEMPair(ca_cert.public_bytes(serialization.Encoding.PEM), _key_pem(ca_key)),
        serving=_leaf(
            ca_key,
            ca_name,
            _name("kube-apiserver"),
            ExtendedKeyUsageOID.SERVER_AUTH,
            serving_sans,
            now,
        ),
        # system:masters is the group RBAC lets do everything: the admin of a local cluster.
        admin=_leaf(
            ca_key,
            ca_name,
            _name("admin", "system:masters"),
            ExtendedKeyUsageOID.CLIENT_AUTH,
            [],
            now,
        ),
        service_account=PEMPair(sa_public, _key_pem(sa_key)),
    )
