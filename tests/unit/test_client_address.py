"""Who is calling: the TCP peer, or what trusted proxies wrote in `X-Forwarded-For`."""

from __future__ import annotations

import ipaddress

import pytest

from kindred.context import client_address
from kindred.ratelimit import address_key

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1"))
GATEWAYS = (*LOOPBACK, ipaddress.ip_network("10.0.0.0/8"))


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address("203.0.113.7", ["198.51.100.1"], LOOPBACK) == "203.0.113.7"
    assert client_address("203.0.113.7", [], ()) == "203.0.113.7"


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


def test_a_trusted_peer_without_the_header_is_the_client() -> None:
    assert client_address("127.0.0.1", [], LOOPBACK) == "127.0.0.1"
    assert client_address("::1", [], LOOPBACK) == "::1"


def test_a_trusted_peer_forwards_the_address_it_saw() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], LOOPBACK) == "198.51.100.1"


def test_the_right_most_untrusted_entry_wins_over_what_the_client_claims() -> None:
    # The client claims 1.2.3.4; the edge proxy (10.0.0.5) saw 198.51.100.1.
    header = ["1.2.3.4, 198.51.100.1, 10.0.0.5"]
    assert client_address("127.0.0.1", header, GATEWAYS) == "198.51.100.1"
    assert client_address("127.0.0.1", header, LOOPBACK) == "10.0.0.5"


def test_several_headers_are_one_list_in_order() -> None:
    headers = ["1.2.3.4", "198.51.100.1, 10.0.0.5"]
    assert client_address("10.0.0.9", headers, GATEWAYS) == "198.51.100.1"


def test_malformed_entries_are_skipped() -> None:
    header = ["198.51.100.1, unknown, , not-an-ip, 300.1.1.1, 10.0.0.5"]
    assert client_address("127.0.0.1", header, GATEWAYS) == "198.51.100.1"
    assert client_address("127.0.0.1", ["garbage"], LOOPBACK) == "127.0.0.1"


def test_if_every_entry_is_trusted_the_left_most_is_the_client() -> None:
    assert client_address("127.0.0.1", ["10.0.0.1, 10.0.0.2"], GATEWAYS) == "10.0.0.1"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("198.51.100.1:443", "198.51.100.1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ('"198.51.100.1"', "198.51.100.1"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
    ],
)
def test_entries_are_read_as_proxies_write_them(entry: str, expected: str) -> None:
    assert client_address("127.0.0.1", [entry], LOOPBACK) == expected


def test_an_ipv4_mapped_peer_is_trusted_as_ipv4() -> None:
    assert client_address("::ffff:127.0.0.1", ["198.51.100.1"], LOOPBACK) == "198.51.100.1"


def test_a_peer_that_is_no_address_is_kept_and_untrusted() -> None:
    assert client_address("testclient", ["198.51.100.1"], LOOPBACK) == "testclient"
    assert client_address(None, ["198.51.100.1"], LOOPBACK) is None


def test_ipv6_clients_are_limited_per_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("198.51.100.1") == "198.51.100.1"
    assert address_key(None) == "unknown"
