"""SOAP (zeep) and REST access to a PeopleSoft Integration Broker gateway.

WSDLs are package data, parsed once per process and never fetched over the network at cold
start. Every request goes through one retry loop (jittered backoff on 5xx without a SOAP
fault, timeouts and connection errors), one authentication scheme (HTTP Basic, WS-Security
UsernameToken, or an OAuth2 client-credentials bearer token refreshed once on 401), and one
fault translation: a ``CIFault`` is PeopleSoft refusing the data (``ReviewError``), anything
else from the gateway is transient.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests
from lxml import etree
from tenacity import Retrying, retry_if_exception, stop_after_attempt
from zeep import Client, Settings
from zeep import exceptions as zeep_exceptions
from zeep.transports import Transport
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from mlconnector.errors import AuthError, ConnectorError, ReviewError, TransientError
from mlconnector.http import (
    RETRYABLE_STATUSES,
    RetryPolicy,
    is_retryable,
    new_session,
    send,
    wait_strategy,
)
from mlconnector.oauth2 import ClientCredentials
from mlconnector.targets.base import required_credentials
from mlconnector.targets.peoplesoft.settings import PeopleSoftSettings

log = logging.getLogger(__name__)

PACKAGE_WSDL_DIR = Path(__file__).parent / "wsdl"
_XSD_NS = "http://www.w3.org/2001/XMLSchema"

#: Parse settings for WSDLs and responses: strict, no huge trees, no DTD, no entities, no external fetches.
ZEEP_SETTINGS = Settings(
    strict=True,
    xml_huge_tree=False,
    forbid_dtd=True,
    forbid_entities=True,
    forbid_external=True,
)

#: PeopleSoft messages the client recognises (message set, message number).
MSG_DUPLICATE = (18, 2)  # "Data being added conflicts with existing data."
MSG_NO_ROWS = (91, 50)  # "No rows exist for the specified keys."
AUTH_MESSAGE_SET = 158  # Integration Broker gateway security messages

_FAULT_RE = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?Fault[\s>/]")
_AUTH_WORDS = ("authenticat", "user id or password", "userid or password", "not authorized")

_DOCUMENTS: dict[str, Document] = {}
_LENGTHS: dict[str, dict[etree.QName, int]] = {}
_DOCUMENTS_LOCK = threading.Lock()

#: How a generated CI WSDL may name an element: ``KEYPROP_`` keys, ``PROP_`` properties and ``COLL_`` child
#: collections, or (the other generation style) the plain field and record names.
_NAME_PREFIXES = ("KEYPROP_", "PROP_", "COLL_")
_NUMBERED = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*?)_\d+$")


class _OfflineTransport(Transport):
    """Loads WSDL/XSD files from disk only; any http(s) import is refused."""

    def load(self, url: str) -> bytes:
        if urlparse(url).scheme in ("http", "https"):
            raise ConnectorError(f"refusing to fetch {url.split('?', 1)[0]} while loading a PeopleSoft WSDL")
        return super().load(url)


def wsdl_path(settings: PeopleSoftSettings, ci: str) -> Path:
    if settings.wsdl_dir:
        folder = Path(settings.wsdl_dir)
    else:
        folder = PACKAGE_WSDL_DIR if settings.wsdl_style == "prefixed" else PACKAGE_WSDL_DIR / "unprefixed"
    return folder / f"CI_{ci}.{settings.version(ci)}.wsdl"


def load_wsdl(path: Path) -> Document:
    """The parsed WSDL at ``path``, parsed once per process (module-level cache keyed by path)."""
    key = str(Path(path).resolve())
    with _DOCUMENTS_LOCK:
        document = _DOCUMENTS.get(key)
        if document is None:
            if not Path(key).is_file():
                raise ConnectorError(f"PeopleSoft WSDL not found: {key}")
            document = Document(key, _OfflineTransport(), settings=ZEEP_SETTINGS)
            _LENGTHS[key] = max_lengths(Path(key))
            _DOCUMENTS[key] = document
        return document


def wsdl_max_lengths(path: Path) -> dict[etree.QName, int]:
    """The ``maxLength`` facets of the WSDL at ``path`` (loaded, and cached, with it)."""
    load_wsdl(path)
    return _LENGTHS[str(Path(path).resolve())]


def max_lengths(wsdl: Path) -> dict[etree.QName, int]:
    """``maxLength`` of every named simple type in the WSDL's schemas and the local XSDs they import.

    zeep reads the types but keeps no restriction facets, so the lengths are read from the schema text.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    lengths: dict[etree.QName, int] = {}
    seen: set[Path] = set()

    def visit(path: Path) -> None:
        if path in seen or not path.is_file():
            return
        seen.add(path)
        root = etree.parse(str(path), parser).getroot()
        schemas = [root] if root.tag == f"{{{_XSD_NS}}}schema" else root.iter(f"{{{_XSD_NS}}}schema")
        for schema in schemas:
            namespace = schema.get("targetNamespace")
            for simple in schema.iterfind(f"{{{_XSD_NS}}}simpleType"):
                facet = simple.find(f"{{{_XSD_NS}}}restriction/{{{_XSD_NS}}}maxLength")
                if simple.get("name") and facet is not None:
                    lengths[etree.QName(namespace, simple.get("name"))] = int(facet.get("value"))
            for node in schema.iter(f"{{{_XSD_NS}}}import", f"{{{_XSD_NS}}}include"):
                location = node.get("schemaLocation")
                if location and urlparse(location).scheme in ("", "file"):
                    visit((path.parent / urlparse(location).path).resolve())

    visit(wsdl.resolve())
    return lengths


def field_name(element: str) -> str:
    """The PeopleSoft field or record an element stands for: ``KEYPROP_``/``PROP_``/``COLL_`` removed."""
    for prefix in _NAME_PREFIXES:
        if element.startswith(prefix):
            return element[len(prefix) :]
    return element


@dataclass(frozen=True)
class CiField:
    """One element of a CI message as the WSDL declares it: a field, or a collection of child rows."""

    element: str
    #: The PeopleSoft name: prefix removed; a generator that meets one field name on two levels numbers
    #: the later one (``EFFDT_0``), which answers to the plain name unless a sibling carries it.
    name: str
    max_length: int | None = None
    repeats: bool = False
    children: tuple[CiField, ...] = ()

    def child(self, name: str) -> CiField | None:
        """The child element for PeopleSoft name ``name`` (or its prefixed form), in either naming style."""
        wanted = field_name(name)
        return next((child for child in self.children if child.name == wanted), None)


def ci_fields(element: Any, lengths: dict[etree.QName, int], name: str | None = None) -> CiField:
    """The element's declared shape, read from zeep's parsed schema: child names in sequence order,
    child rows (elements with child elements of their own) and each field's ``maxLength``."""
    kind = element.type
    declared = getattr(kind, "elements", [])
    children = [ci_fields(child, lengths, n) for n, child in declared if n != "_value_1"]
    plain = {child.name for child in children}
    for index, child in enumerate(children):
        numbered = _NUMBERED.match(child.name)
        if numbered and numbered["name"] not in plain:
            children[index] = replace(child, name=numbered["name"])
    value_types = [kind, *(e.type for n, e in declared if n == "_value_1")]
    element_name = name or element.name
    return CiField(
        element=element_name,
        name=field_name(element_name),
        max_length=None if children else next((lengths[t.qname] for t in value_types if t.qname in lengths), None),
        repeats=element.max_occurs == "unbounded" or (isinstance(element.max_occurs, int) and element.max_occurs > 1),
        children=tuple(children),
    )


def service_binding(document: Document) -> Any:
    """The binding of the WSDL's first service port (PeopleSoft generates exactly one)."""
    service = next(iter(document.services.values()))
    return next(iter(service.ports.values())).binding


@dataclass
class IBMessage:
    """One ``IBResponse`` of a PeopleSoft fault."""

    message_set: int | None
    message_number: int | None
    status_code: int | None
    text: str
    title: str = ""
    kind: str = ""

    @property
    def number(self) -> tuple[int | None, int | None]:
        return (self.message_set, self.message_number)


class CIFaultError(ReviewError):
    """PeopleSoft refused the Component Interface call (``CIFault``); the message is PeopleSoft's own."""

    def __init__(self, operation: str, messages: list[IBMessage]) -> None:
        first = messages[0] if messages else IBMessage(None, None, None, "no message")
        super().__init__(
            f"PeopleSoft {operation}: {first.text}",
            detail={
                "operation": operation,
                "messages": [
                    {"message_set": m.message_set, "message_number": m.message_number, "text": m.text} for m in messages
                ],
            },
        )
        self.operation = operation
        self.messages = messages

    def has(self, number: tuple[int, int]) -> bool:
        return any(m.number == number for m in self.messages)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None and text.strip() else None
    except ValueError:
        return None


def parse_ib_responses(detail: etree._Element | None) -> tuple[bool, list[IBMessage]]:
    """(is a CIFault, the IBResponse messages) found in a SOAP fault's detail."""
    if detail is None:
        return False, []
    is_ci = bool(detail.xpath(".//*[local-name()='CIFault']"))
    messages = []
    for node in detail.xpath(".//*[local-name()='IBResponse']"):

        def text(name: str, node: etree._Element = node) -> str | None:
            found = node.xpath(f"./*[local-name()='{name}']")
            return (found[0].text or "").strip() if found else None

        messages.append(
            IBMessage(
                message_set=_int(text("MessageSetID")),
                message_number=_int(text("MessageID")),
                status_code=_int(text("StatusCode")),
                text=text("DefaultMessage") or "",
                title=text("DefaultTitle") or "",
                kind=node.get("type", ""),
            )
        )
    return is_ci, messages


def value(obj: Any) -> Any:
    """Unwrap zeep's simpleContent shapes (``{'_value_1': x}``) into the plain value."""
    if obj is None:
        return None
    if hasattr(obj, "_value_1"):
        return obj._value_1
    return obj


@dataclass
class PeopleSoftConnection:
    """One gateway: HTTP session, credentials, retry loop and (for oauth2) the cached token."""

    settings: PeopleSoftSettings
    credentials: dict[str, str] = field(repr=False)
    session: requests.Session = field(
        default_factory=lambda: new_session("ml-connector/0.1 (peoplesoft)", one_request_at_a_time=True)
    )
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        missing = [name for name in required_credentials(self.settings.auth) if not self.credentials.get(name)]
        if missing:
            raise AuthError(
                f"PeopleSoft node {self.settings.node}: credentials for auth={self.settings.auth} lack {missing}"
            )

    # -- authentication ---------------------------------------------------------------------

    @property
    def policy(self) -> RetryPolicy:
        return self.settings.retry_policy

    def _who(self) -> str:
        return f"PeopleSoft node {self.settings.node} ({self.settings.auth} auth)"

    @cached_property
    def _token(self) -> ClientCredentials:
        assert self.settings.token_url is not None
        return ClientCredentials(
            self._who(),
            self.settings.token_url,
            self.credentials["client_id"],
            self.credentials["client_secret"],
            session=self.session,
            policy=self.policy,
            scope=self.settings.oauth_scope,
            sleep=self.sleep,
        )

    def _auth_kwargs(self, *, soap: bool) -> dict[str, Any]:
        if self.settings.auth == "oauth2":
            return {"headers": {"Authorization": f"Bearer {self._token.bearer()}"}}
        if self.settings.auth == "wss" and soap:
            return {}  # the UsernameToken travels in the SOAP header
        return {"auth": (self.credentials["username"], self.credentials["password"])}

    def wsse(self) -> UsernameToken | None:
        if self.settings.auth != "wss":
            return None
        return UsernameToken(self.credentials["username"], self.credentials["password"])

    # -- sending ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        soap: bool,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send with retries; 401 refreshes an OAuth2 token once, then raises ``AuthError``.

        A SOAP call's HTTP 500 carrying a SOAP fault is returned (zeep turns it into a fault);
        a 500 without one, 502/503/504/429, timeouts and connection errors are retried.
        """
        single = self.policy.model_copy(update={"attempts": 1})
        refreshed = False

        def attempt() -> requests.Response:
            nonlocal refreshed
            while True:
                auth = self._auth_kwargs(soap=soap)
                merged = {**(headers or {}), **auth.pop("headers", {})}
                response = send(
                    self.session,
                    method,
                    url,
                    policy=single,
                    retry_statuses=RETRYABLE_STATUSES - {500},
                    headers=merged,
                    **auth,
                    **kwargs,
                )
                if response.status_code == 401 and self.settings.auth == "oauth2" and not refreshed:
                    refreshed = True
                    self._token.invalidate()
                    log.info("%s: HTTP 401, refreshing the OAuth2 token once", self._who())
                    continue
                if response.status_code in (401, 403):
                    raise AuthError(f"{self._who()} refused the credentials (HTTP {response.status_code})")
                if response.status_code == 500 and not (soap and _FAULT_RE.search(response.content[:8192])):
                    raise TransientError(f"{self._who()} answered HTTP 500")
                return response

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait_strategy(self.policy),
            retry=retry_if_exception(is_retryable),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(attempt)

    def rest_get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """GET a REST service operation under the RESTListeningConnector; JSON with Decimal numbers."""
        url = f"{self.settings.rest_url}/{path.lstrip('/')}"
        response = self.request("GET", url, soap=False, params=params, headers={"Accept": "application/json"})
        if response.status_code == 404:
            raise TransientError(f"{self._who()}: REST operation {path.split('/', 1)[0]} not found (HTTP 404)")
        if response.status_code >= 400:
            raise TransientError(f"{self._who()}: REST inquiry answered HTTP {response.status_code}")
        try:
            return json.loads(response.text, parse_float=Decimal)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser reads
            raise TransientError(f"{self._who()}: REST inquiry answered non-JSON content") from None

    def close(self) -> None:
        self.session.close()


class _ConnectionTransport(Transport):
    """zeep transport that sends through ``PeopleSoftConnection.request`` and never logs bodies."""

    def __init__(self, connection: PeopleSoftConnection) -> None:
        super().__init__(session=connection.session, timeout=connection.settings.timeout_seconds)
        connection.session.headers["User-Agent"] = "ml-connector/0.1 (peoplesoft)"
        self.connection = connection

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> requests.Response:
        return self.connection.request("POST", address, soap=True, data=message, headers=dict(headers))

    def load(self, url: str) -> bytes:
        raise ConnectorError("PeopleSoft WSDLs are loaded from package data, not over the network")


#: Free-text fields cut to their PeopleSoft length; any other value longer than its field is refused.
FREE_TEXT = frozenset(
    {"DESCR", "DESCR254", "LINE_DESCR", "NAME1", "NAME2", "ADDRESS1", "ADDRESS2", "ADDRESS3", "ADDRESS4", "CITY"}
)


def fit(node: CiField, value: Any, where: str) -> Any:
    """``value`` within the field's WSDL ``maxLength``: free text is cut, anything else too long is refused."""
    if not isinstance(value, str) or node.max_length is None or len(value) <= node.max_length:
        return value
    if node.name in FREE_TEXT:
        return value[: node.max_length]
    raise ReviewError(
        f"PeopleSoft {where}: {node.name} takes {node.max_length} characters, the value has {len(value)}",
        detail={"field": node.name, "max_length": node.max_length},
    )


def to_elements(shape: CiField, data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data`` (PeopleSoft field and record names, prefixed or not) keyed by the element names the WSDL uses."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        node = shape.child(name)
        if node is None:
            raise ReviewError(
                f"PeopleSoft {where}: the WSDL has no field {field_name(name)} in {shape.element}",
                detail={"field": field_name(name), "in": shape.element},
            )
        if node.children:
            rows = value if isinstance(value, list) else [value]
            out[node.element] = [to_elements(node, row, where) for row in rows]
        else:
            out[node.element] = fit(node, value, where)
    return out


def to_names(shape: CiField, obj: Any) -> dict[str, Any]:
    """A zeep response as plain data keyed by PeopleSoft field and record names, whichever style the WSDL uses."""
    if obj is None:
        return {}
    if isinstance(obj, list):  # zeep unwrapped the response's only (repeating) child
        only = shape.children[0]
        return {only.name: [to_names(only, item) for item in obj]}
    out: dict[str, Any] = {}
    for key in obj:
        item = obj[key]
        node = next((child for child in shape.children if child.element == key), None)
        name = node.name if node is not None else field_name(key)
        nested = node is not None and bool(node.children)
        if isinstance(item, list):
            out[name] = [to_names(node, i) if nested else value(i) for i in item]
        elif nested:
            out[name] = to_names(node, item) if item is not None else None
        else:
            out[name] = value(item)
    return out


class CiService:
    """One Component Interface service (``CI_<CI>``) bound to the connection's listening connector.

    Callers name fields as PeopleSoft does (``SETID``, child rows by record: ``JRNL_LN``); the element names
    (``KEYPROP_SETID`` or ``SETID``, ``COLL_JRNL_LN`` or ``JRNL_LN``) and lengths come from the loaded WSDL.
    """

    def __init__(
        self, connection: PeopleSoftConnection, ci: str, document: Document, lengths: dict[etree.QName, int]
    ) -> None:
        self.ci = ci
        self.connection = connection
        client = Client(
            document,
            transport=_ConnectionTransport(connection),
            wsse=connection.wsse(),
            settings=ZEEP_SETTINGS,
        )
        self._binding = service_binding(document)
        self._lengths = lengths
        self._shapes: dict[str, tuple[CiField, CiField]] = {}
        self._service = client.create_service(self._binding.name, connection.settings.soap_url)

    def shapes(self, verb: str) -> tuple[CiField, CiField]:
        """(request, response) shapes of ``CI_<CI>_<verb>`` as the WSDL declares them."""
        if verb not in self._shapes:
            operation = self._binding._operations.get(f"CI_{self.ci}_{verb}")
            if operation is None:
                raise ConnectorError(f"the CI_{self.ci} WSDL has no operation CI_{self.ci}_{verb}")
            self._shapes[verb] = (
                ci_fields(operation.input.body, self._lengths),
                ci_fields(operation.output.body, self._lengths),
            )
        return self._shapes[verb]

    def max_length(self, verb: str, *path: str) -> int | None:
        """``maxLength`` the WSDL gives the field at ``path`` (record names, then the field) of a request."""
        node: CiField | None = self.shapes(verb)[0]
        for name in path:
            node = node.child(name) if node is not None else None
        return node.max_length if node is not None else None

    def call(self, verb: str, **fields: Any) -> dict[str, Any]:
        """Call ``CI_<CI>_<verb>`` (C, F, G, UP); the answer keyed by PeopleSoft names."""
        operation = f"CI_{self.ci}_{verb}"
        node = self.connection.settings.node
        request, response = self.shapes(verb)
        payload = to_elements(request, fields, operation)
        try:
            return to_names(response, self._service[operation](**payload))
        except zeep_exceptions.Fault as fault:
            is_ci, messages = parse_ib_responses(fault.detail)
            if is_ci:
                raise CIFaultError(operation, messages) from None
            text = " ".join(m.text for m in messages) or (fault.message or "")
            if any(m.message_set == AUTH_MESSAGE_SET for m in messages) or any(
                word in text.lower() for word in _AUTH_WORDS
            ):
                raise AuthError(f"PeopleSoft node {node} refused the credentials on {operation}: {text}") from None
            raise TransientError(f"PeopleSoft node {node} gateway fault on {operation}: {text}") from None
        except (zeep_exceptions.DTDForbidden, zeep_exceptions.EntitiesForbidden) as exc:
            raise TransientError(
                f"PeopleSoft node {node}: refused the {operation} response ({type(exc).__name__})"
            ) from None
        except zeep_exceptions.ExternalReferenceForbidden:
            raise TransientError(
                f"PeopleSoft node {node}: refused the {operation} response (external reference)"
            ) from None
        except zeep_exceptions.ValidationError as exc:
            raise ReviewError(f"PeopleSoft {operation}: request does not match the WSDL: {exc.message}") from None
        except (zeep_exceptions.TransportError, zeep_exceptions.XMLSyntaxError, zeep_exceptions.XMLParseError) as exc:
            status = getattr(exc, "status_code", None)
            raise TransientError(
                f"PeopleSoft node {node}: unreadable {operation} response (HTTP {status or '?'})"
            ) from None


class PeopleSoftClient:
    """The CI services the connector uses, plus REST inquiry, over one connection."""

    def __init__(
        self,
        settings: PeopleSoftSettings,
        credentials: dict[str, str],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.connection = PeopleSoftConnection(settings, dict(credentials), sleep=sleep)
        self._services: dict[str, CiService] = {}
        self._lock = threading.Lock()

    def service(self, ci: str) -> CiService:
        with self._lock:
            if ci not in self._services:
                path = wsdl_path(self.settings, ci)
                self._services[ci] = CiService(self.connection, ci, load_wsdl(path), wsdl_max_lengths(path))
            return self._services[ci]

    def close(self) -> None:
        self.connection.close()


def expected_operations(ci: str) -> set[str]:
    return {f"CI_{ci}_{verb}" for verb in ("C", "F", "G", "UP")}


def download_wsdls(
    settings: PeopleSoftSettings,
    credentials: dict[str, str],
    dest_dir: str | Path,
    services: list[str],
) -> list[Path]:
    """Fetch the customer's generated WSDLs for ``services`` (CI names) and write them to ``dest_dir``.

    Tries ``?Operation=GetWSDL&wsdl=CI_X.v`` then ``/{node}/CI_X.v.wsdl``. XSDs the WSDL imports
    by URL are fetched too (same host as ``base_url`` only), saved next to it, and the imports
    rewritten to the local file names, so run time never touches the network. Each WSDL must
    load under the strict run-time settings and offer Create/Find/Get/Update, or nothing is written.
    """
    connection = PeopleSoftConnection(settings, dict(credentials))
    files: dict[str, bytes] = {}
    wsdl_names: list[str] = []
    try:
        for ci in services:
            name = f"CI_{ci}.{settings.version(ci)}"
            base = f"{settings.base_url}/PSIGW/PeopleSoftServiceListeningConnector"
            location = f"{base}/{settings.node}/{name}.wsdl"  # what relative imports resolve against
            candidates = [(base, {"Operation": "GetWSDL", "wsdl": name}), (location, None)]
            content = None
            for url, params in candidates:
                response = connection.request("GET", url, soap=False, params=params)
                if response.status_code == 200 and b"definitions" in response.content[:4096]:
                    content = response.content
                    break
            if content is None:
                raise ConnectorError(f"PeopleSoft node {settings.node} did not return the WSDL for {name}")
            files[f"{name}.wsdl"] = _localise_imports(connection, content, location, files)
            wsdl_names.append(name)
        _check_wsdls(files, dict(zip(wsdl_names, services, strict=True)), settings)
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        for filename, data in files.items():
            (dest / filename).write_bytes(data)
        return [dest / f"{name}.wsdl" for name in wsdl_names]
    finally:
        connection.close()


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.\-]")


def _local_name(url: str) -> str:
    parsed = urlparse(url)
    query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
    stem = query.get("xsd") or Path(parsed.path).name or "schema"
    stem = _SAFE_NAME.sub("_", stem)
    return stem if stem.endswith(".xsd") else f"{stem}.xsd"


def _localise_imports(
    connection: PeopleSoftConnection, content: bytes, location: str, files: dict[str, bytes]
) -> bytes:
    """Fetch every xsd:import/include target of ``content`` (recursively) and point it at the local copy."""
    from urllib.parse import urljoin

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        raise ConnectorError(f"{location.split('?', 1)[0]} is not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise ConnectorError(f"{location.split('?', 1)[0]} carries a DTD; refused")
    allowed = urlparse(connection.settings.base_url).netloc
    for node in root.iter(f"{{{_XSD_NS}}}import", f"{{{_XSD_NS}}}include"):
        target = node.get("schemaLocation")
        if not target:
            continue
        url = urljoin(location, target)
        if urlparse(url).scheme in ("http", "https"):
            if urlparse(url).netloc != allowed:
                raise ConnectorError(f"schema import from another host refused: {url.split('?', 1)[0]}")
            local = _local_name(url)
            if local not in files:
                files[local] = b""  # placeholder against import cycles
                response = connection.request("GET", url, soap=False)
                if response.status_code != 200:
                    raise ConnectorError(f"schema {url.split('?', 1)[0]} answered HTTP {response.status_code}")
                files[local] = _localise_imports(connection, response.content, url, files)
            node.set("schemaLocation", local)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _check_wsdls(files: dict[str, bytes], cis: dict[str, str], settings: PeopleSoftSettings) -> None:
    """Each WSDL loads offline, offers the operations, and declares every field the connector sends to it."""
    import tempfile

    from mlconnector.targets.peoplesoft.mapping import sample_requests

    samples = sample_requests(settings)

    with tempfile.TemporaryDirectory() as tmp:
        for filename, data in files.items():
            (Path(tmp) / filename).write_bytes(data)
        for name, ci in cis.items():
            try:
                document = Document(str(Path(tmp) / f"{name}.wsdl"), _OfflineTransport(), settings=ZEEP_SETTINGS)
            except (zeep_exceptions.Error, ConnectorError, etree.XMLSyntaxError) as exc:
                raise ConnectorError(f"WSDL {name} does not load: {type(exc).__name__}: {exc}") from None
            operations = set(service_binding(document)._operations)
            missing = sorted(expected_operations(ci) - operations)
            if missing:
                raise ConnectorError(f"WSDL {name} lacks operations {missing}")
            create = ci_fields(service_binding(document)._operations[f"CI_{ci}_C"].input.body, {})
            for sample in samples.get(ci, []):
                try:
                    to_elements(create, sample, f"CI_{ci}_C")
                except ReviewError as exc:
                    raise ConnectorError(f"WSDL {name} does not fit what the connector sends: {exc}") from None
