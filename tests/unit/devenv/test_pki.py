"""The local control plane's certificates chain to its CA and say who is who."""

from __future__ import annotations

import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from checkout_devenv import pki

BUNDLE = pki.generate()


def load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_leaf_certificates_are_signed_by_the_ca() -> None:
    ca = load(BUNDLE.ca.cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for pair in (BUNDLE.serving, BUNDLE.admin):
        load(pair.cert).verify_directly_issued_by(ca)


def test_serving_certificate_names_loopback_and_the_kubernetes_service() -> None:
    sans = (
        load(BUNDLE.serving.cert)
        .extensions.get_extension_for_class(x509.SubjectAlternativeName)
        .value
    )
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)


def test_admin_is_in_system_masters_and_is_a_client() -> None:
    admin = load(BUNDLE.admin.cert)
    orgs = [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_service_account_key_pair_matches() -> None:
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(BUNDLE.service_account.key, None)
    public = serialization.load_pem_public_key(BUNDLE.service_account.cert)
    assert private.public_key().public_numbers() == public.public_numbers()  # type: ignore[union-attr]
    assert isinstance(
        serialization.load_pem_private_key(BUNDLE.admin.key, None), ec.EllipticCurvePrivateKey
    )
