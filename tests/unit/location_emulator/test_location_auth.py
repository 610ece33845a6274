"""Who may call: a SigV4 header scoped to geo-places, or a configured API key."""

import pytest
from location_emulator.auth import authenticate
from location_unit_support import SIGV4

KEYS = {"key-one", "key-two"}


def error_type(authorization, key=None, keys=KEYS):
    failure = authenticate(authorization, key, keys)
    return None if failure is None else failure.error_type


def test_auth_sigv4_for_geo_places_is_enough():
    assert error_type(SIGV4) is None
    assert error_type(SIGV4, keys=set()) is None


def test_auth_nothing_at_all_is_missing_token():
    assert error_type(None) == "MissingAuthenticationTokenException"


def test_auth_keys():
    assert error_type(None, "key-two") is None
    assert error_type(None, "key-three") == "AccessDeniedException"
    assert error_type(None, "") == "AccessDeniedException"
    assert error_type(None, "key-one", keys=set()) == "AccessDeniedException"


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        (SIGV4.replace("/geo-places/", "/geo-maps/"), "AccessDeniedException"),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/geo-places/aws4_request",
            "IncompleteSignatureException",
        ),
        (
            "AWS4-HMAC-SHA256 Credential=AKID/us-east-1/geo-places/aws4_request, SignedHeaders=host, Signature=x",
            "IncompleteSignatureException",
        ),
        ("Bearer abc", "IncompleteSignatureException"),
    ],
)
def test_auth_bad_signatures(authorization, expected):
    assert error_type(authorization) == expected


def test_auth_a_valid_key_rescues_a_badly_scoped_signature():
    assert error_type(SIGV4.replace("/geo-places/", "/geo-maps/"), "key-one") is None


def test_auth_messages_never_name_the_key():
    failure = authenticate(None, "key-three", KEYS)
    assert "key-three" not in failure.message
