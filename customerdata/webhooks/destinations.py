"""Where a webhook may go: never into the network behind the service.

A URL is checked when it is registered, and the address a delivery actually connects to is
checked again (transport.py), so a name that resolved to a public address at registration and to
a private one later (DNS rebinding) is refused then too.
"""
import ipaddress
import socket
from urllib.parse import urlsplit

from flask import current_app

MAX_URL_LENGTH = 2048


class Refused(Exception):
    """A destination the service does not send to; the message is the client's."""


def resolve(host, port):
    """Every address `host` resolves to (numeric forms such as 2130706433 included): the one place
    names are looked up, so that tests can stand in for DNS."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(info[4][0] for info in found))


# IPv6 ranges that carry an IPv4 address in their last 32 bits: judged by that address
IPV4_CARRIERS = tuple(ipaddress.ip_network(network) for network in (
    "::/96",           # IPv4-compatible (deprecated): ::127.0.0.1
    "::ffff:0:0/96",   # IPv4-mapped: ::ffff:127.0.0.1
    "::ffff:0:0:0/96",  # IPv4-translated: ::ffff:0:7f00:1
    "64:ff9b::/96",    # NAT64: a gateway would connect to the IPv4 address
))
# not routable on the internet, though Python's ipaddress calls them global
NOT_PUBLIC = tuple(ipaddress.ip_network(network) for network in ("192.0.0.0/24", "fec0::/10"))


def is_public(address):
    """True for a globally routable unicast address; IPv4 forms inside IPv6 are judged as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6:
        embedded = next((ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) for network in IPV4_CARRIERS
                         if ip in network), None) or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public(str(embedded)):
            return False
    if any(ip in network for network in NOT_PUBLIC if network.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast


def split(url):
    """(scheme, host, port) of a URL the service may send to, or Refused saying what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"Ensure this field has no more than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("Enter a valid URL.") from None
    allowed = ("https", "http") if current_app.config["WEBHOOKS_ALLOW_HTTP"] else ("https",)
    if parts.scheme not in allowed:
        raise Refused("Only https:// URLs are accepted." if len(allowed) == 1
                      else "Only http:// and https:// URLs are accepted.")
    if parts.username is not None or parts.password is not None:
        raise Refused("A URL with a user name or password is not accepted.")
    if not parts.hostname or any(character.isspace() for character in url):
        raise Refused("Enter a valid URL.")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def checked(url):
    """The URL if the service may send to it (its host resolving to public addresses only)."""
    scheme, host, port = split(url)
    if not current_app.config["WEBHOOKS_ALLOW_PRIVATE"]:
        addresses = resolve(host, port)
        if not addresses:
            raise Refused(f'The host "{host}" does not resolve.')
        if not all(is_public(address) for address in addresses):
            raise Refused(f'The host "{host}" is not a public address: webhooks are not sent into private '
                          "networks.")
    return url
