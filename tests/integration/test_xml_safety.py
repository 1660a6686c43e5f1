"""Hostile SOAP responses: PeopleSoftTarget (zeep, shipped WSDLs) refuses DTDs and entities without
expanding them, reading files or fetching URLs. A tiny WSGI server plays the malicious gateway."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.wrappers import Request, Response

from mlconnector.errors import TransientError
from sandbox.runner import serve
from tests.integration.test_peoplesoft_target import journal, make_target

NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE soapenv:Envelope [' + "".join(entities) + "]>\n"
        f'<soapenv:Envelope xmlns:soapenv="{NS_SOAP}"><soapenv:Body><x>&lol9;</x></soapenv:Body></soapenv:Envelope>'
    ).encode()


def external_entity(uri: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE soapenv:Envelope [<!ENTITY ext SYSTEM "{uri}">]>\n'
        f'<soapenv:Envelope xmlns:soapenv="{NS_SOAP}"><soapenv:Body><x>&ext;</x></soapenv:Body></soapenv:Envelope>'
    ).encode()


def parameter_entity(uri: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE soapenv:Envelope [<!ENTITY % remote SYSTEM "{uri}"> %remote;]>\n'
        f'<soapenv:Envelope xmlns:soapenv="{NS_SOAP}"><soapenv:Body/></soapenv:Envelope>'
    ).encode()


@pytest.fixture
def hostile() -> Iterator[Callable[[bytes], str]]:
    """Start a gateway answering every request with the given body; returns its base URL."""
    servers = []

    def start(body: bytes) -> str:
        def app(environ, start_response):
            Request(environ).get_data()
            return Response(body, 200, content_type="text/xml; charset=utf-8")(environ, start_response)

        servers.append(serve(app))
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fetch_log() -> Iterator[tuple[str, list[str]]]:
    """A server that records any request: an external entity resolved over the network would land here."""
    hits: list[str] = []
    lock = threading.Lock()

    def app(environ, start_response):
        with lock:
            hits.append(Request(environ).path)
        return Response("<x>exfiltrated</x>", 200)(environ, start_response)

    server = serve(app)
    yield server.url, hits
    server.stop()


def _refused(url: str) -> TransientError:
    target = make_target(url, retry_attempts=1)
    with pytest.raises(TransientError) as caught:
        target.find_posting(journal())
    return caught.value


def test_billion_laughs_is_refused_without_expansion(hostile):
    url = hostile(billion_laughs())
    tracemalloc.start()
    try:
        error = _refused(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # zeep refuses the DTD, or libxml2 (resolve_entities off, huge_tree off) stops at the amplification first
    assert any(word in str(error) for word in ("DTDForbidden", "EntitiesForbidden", "unreadable")), error
    assert "lol" not in str(error)
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MB allocated: the entities were expanded"  # 10^9 'lol's = 3 GB


def test_external_file_entity_is_refused_and_the_file_not_read(hostile, tmp_path: Path):
    secret_file = tmp_path / "passwd"
    marker = "root:x:0:0:MARKER-7f3a"
    secret_file.write_text(marker)
    error = _refused(hostile(external_entity(secret_file.as_uri())))
    assert "Forbidden" in str(error)
    assert "MARKER-7f3a" not in str(error) and "root:x" not in str(error)


@pytest.mark.parametrize("make", [external_entity, parameter_entity], ids=["general", "parameter"])
def test_external_url_entity_is_never_fetched(hostile, fetch_log, make):
    fetch_url, hits = fetch_log
    error = _refused(hostile(make(f"{fetch_url}/steal")))
    assert "Forbidden" in str(error)
    assert hits == [], "the client fetched an external entity"


def test_sandbox_gateway_answering_with_a_dtd_is_refused():
    from sandbox.peoplesoft import PeopleSoftState, create_app

    state = PeopleSoftState(auth="wss", respond_with_dtd=True)
    server = serve(create_app(state))
    try:
        error = _refused(server.url)
    finally:
        server.stop()
    assert "DTDForbidden" in str(error) or "EntitiesForbidden" in str(error)
    assert state.requests["CI_JOURNAL_ENTRY_CI_F"] == 1
