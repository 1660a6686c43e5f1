"""A PeopleSoft Integration Broker simulator (WSGI), speaking the shipped CI WSDLs.

Serves the PeopleSoftServiceListeningConnector (SOAP 1.1, dispatch by SOAPAction, every request
body validated against the WSDL's own schemas), WSDL download, an OAuth2 token endpoint and
REST inquiry under the RESTListeningConnector. Behaviour follows PeopleSoft where it is known:
CIFault with IBResponse for Component Interface errors, "Data being added conflicts with
existing data" on duplicate keys, "No rows exist for the specified keys" on Get, Find matching
"begins with", JOURNAL_ID ``NEXT`` auto-numbering, unbalanced journals and invalid ChartField
combinations refused. AR pending items (AR_PENDING_ITEM_CI: distributions, signed debit-positive,
must sum to -ENTRY_AMT; a payment must name an existing invoice item and lowers its BAL_AMT) and
vouchers (VCHR_EXPRESS: distributions sum to their line, lines to GROSS_AMT) are modelled on the
staging records, like the shipped WSDLs. Fault injection: latency, HTTP 500s, a seeded error rate, a timeout after
commit, and DTD-carrying responses.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, Literal

from lxml import etree
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response
from zeep import Settings
from zeep.transports import Transport
from zeep.wsdl import Document

from sandbox.contracts import contract_path
from sandbox.runner import answer_after, arrival

WSDL_DIR = Path(__file__).resolve().parent.parent / "layers/mlconnector/mlconnector/targets/peoplesoft/wsdl"
LISTENING = "/PSIGW/PeopleSoftServiceListeningConnector"
REST = "/PSIGW/RESTListeningConnector"

NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS_WSDL = "http://schemas.xmlsoap.org/wsdl/"
NS_WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
NS_XSD = "http://www.w3.org/2001/XMLSchema"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"

DECIMAL_FIELDS = {
    "MONETARY_AMOUNT",
    "FOREIGN_AMOUNT",
    "RATE_MULT",
    "ENTRY_AMT",
    "BAL_AMT",
    "GROSS_AMT",
    "MERCHANDISE_AMT",
}
DATE_FIELDS = {"JOURNAL_DATE", "ACCOUNTING_DT", "DUE_DT", "INVOICE_DT", "EFFDT"}
INT_FIELDS = {"JOURNAL_LINE", "ITEM_LINE", "DST_SEQ_NUM", "VOUCHER_LINE_NUM", "DISTRIB_LINE_NUM", "ADDRESS_SEQ_NUM"}
#: Keys of the child rows (the level-0 keys are in KEYS): how a plain element name is told to be a key.
ROW_KEYS = {"JOURNAL_LINE", "DST_SEQ_NUM", "VOUCHER_LINE_NUM", "DISTRIB_LINE_NUM", "ADDRESS_SEQ_NUM", "EFFDT"}
_PREFIXES = ("KEYPROP_", "PROP_", "COLL_")

DEFAULT_ACCOUNTS = frozenset(
    {"100000", "101000", "110000", "120000", "121000", "200000", "210000", "220000", "230000", "400000"}
    | {"410000", "420000", "430000", "450000", "490000", "500000", "600000", "610000", "680000", "999999"}
)


class CIError(Exception):
    """A Component Interface error, answered as a CIFault."""

    def __init__(self, message_set: int, number: int, text: str, keys: dict[str, Any] | None = None) -> None:
        super().__init__(text)
        self.message_set, self.number, self.text, self.keys = message_set, number, text, keys or {}


class GatewayError(Exception):
    """An Integration Gateway error (no CIFault wrapper): unknown node, bad request, security."""

    def __init__(self, status: int, message_set: int, number: int, text: str) -> None:
        super().__init__(text)
        self.status, self.message_set, self.number, self.text = status, message_set, number, text


@dataclass
class PeopleSoftState:
    """Configuration, stored data and fault-injection knobs of one simulated gateway + database."""

    node: str = "PSFT_EP"
    auth: Literal["basic", "wss", "oauth2"] = "wss"
    username: str = "MLC_USER"
    password: str = "sandbox-password"
    client_id: str = "mlc-client"
    client_secret: str = "sandbox-client-secret"
    token_lifetime_seconds: float = 3600.0
    setids: set[str] = field(default_factory=lambda: {"SHARE"})
    business_units: set[str] = field(default_factory=lambda: {"US001"})
    #: Accounts that exist; None accepts any account.
    valid_accounts: set[str] | None = field(default_factory=lambda: set(DEFAULT_ACCOUNTS))
    #: Vendors that exist (VCHR_EXPRESS VENDOR_ID); None accepts any vendor.
    vendor_ids: set[str] | None = None
    #: Combination edits: ACCOUNT -> allowed DEPTIDs ("" = blank DEPTID). Accounts not listed accept any DEPTID.
    account_deptids: dict[str, set[str]] = field(default_factory=dict)
    inquiry_operations: dict[str, str] = field(
        default_factory=lambda: {"journals": "MLC_JRNL_INQUIRY", "customers": "MLC_CUST_INQUIRY"}
    )
    #: The WSDLs served and validated against: the shipped set in ``wsdl_style`` unless ``wsdl_dir`` is given.
    wsdl_dir: Path | None = None
    #: ``prefixed`` (KEYPROP_/PROP_/COLL_ element names) or ``unprefixed`` (plain field and record names).
    wsdl_style: Literal["prefixed", "unprefixed"] = "prefixed"
    # fault injection
    latency_seconds: float = 0.0
    fail_next_n: int = 0
    error_rate: float = 0.0
    seed: int = 0
    timeout_after_commit: bool = False
    timeout_after_commit_first_attempt_only: bool = False
    timeout_after_commit_mode: Literal["sleep", "504"] = "sleep"
    timeout_after_commit_seconds: float = 2.0
    respond_with_dtd: bool = False
    #: Serve WSDLs the way a live gateway does: message schemas as separate XSDs imported by URL.
    wsdl_external_schemas: bool = False
    # stored data and counters (use the accessors below)
    requests: Counter = field(default_factory=Counter)
    #: Service calls being answered now, the most ever answered at once (the connector's concurrency cap),
    #: and when each arrived (epoch seconds).
    calls_in_flight: int = 0
    most_calls_in_flight: int = 0
    call_arrivals: list[float] = field(default_factory=list, repr=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _records: dict[str, dict[tuple, dict[str, Any]]] = field(default_factory=dict, repr=False)
    _tokens: dict[str, float] = field(default_factory=dict, repr=False)
    _timed_out: set[tuple] = field(default_factory=set, repr=False)
    _next_journal: int = 0
    _rng: random.Random | None = field(default=None, repr=False)

    @property
    def served_wsdl_dir(self) -> Path:
        if self.wsdl_dir is not None:
            return Path(self.wsdl_dir)
        return WSDL_DIR if self.wsdl_style == "prefixed" else WSDL_DIR / "unprefixed"

    def count(self, name: str) -> None:
        with self.lock:
            self.requests[name] += 1

    def call_started(self) -> None:
        with self.lock:
            self.call_arrivals.append(time.time())
            self.calls_in_flight += 1
            self.most_calls_in_flight = max(self.most_calls_in_flight, self.calls_in_flight)

    def call_ended(self) -> None:
        with self.lock:
            self.calls_in_flight -= 1

    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    @property
    def journals(self) -> list[dict[str, Any]]:
        """Stored journals (deep copies), in creation order."""
        with self.lock:
            return copy.deepcopy(list(self._records.get("JOURNAL_ENTRY_CI", {}).values()))

    @property
    def customers(self) -> dict[str, dict[str, Any]]:
        """Stored customers (deep copies) by CUST_ID."""
        with self.lock:
            rows = self._records.get("CUSTOMER_CI", {}).values()
            return {row["KEYPROP_CUST_ID"]: copy.deepcopy(row) for row in rows}

    @property
    def ar_items(self) -> list[dict[str, Any]]:
        """Stored AR pending items (deep copies), in creation order; an invoice's BAL_AMT reflects its payments."""
        with self.lock:
            return copy.deepcopy(list(self._records.get("AR_PENDING_ITEM_CI", {}).values()))

    @property
    def vouchers(self) -> list[dict[str, Any]]:
        """Stored vouchers (deep copies), in creation order."""
        with self.lock:
            return copy.deepcopy(list(self._records.get("VCHR_EXPRESS", {}).values()))

    def revoke_tokens(self) -> None:
        """Invalidate every issued OAuth2 token now (the client still believes they are valid)."""
        with self.lock:
            self._tokens.clear()

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime_seconds
        return token

    def token_valid(self, token: str) -> bool:
        with self.lock:
            expiry = self._tokens.get(token)
            return expiry is not None and time.monotonic() < expiry


# -- WSDL model ------------------------------------------------------------------------------


@dataclass
class _Operation:
    ci: str
    verb: str
    name: str
    request: etree.QName
    response: etree.QName
    fault_ns: str


class _Service:
    """What the sandbox reads from one shipped WSDL: operations, schemas and a zeep renderer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_bytes()
        root = etree.fromstring(self.text, etree.XMLParser(resolve_entities=False, no_network=True))
        _check_published_lengths(path.name, root)
        self.schemas: dict[str, etree.XMLSchema] = {}
        for schema in root.iterfind(f"{{{NS_WSDL}}}types/{{{NS_XSD}}}schema"):
            standalone = etree.fromstring(etree.tostring(schema))
            self.schemas[schema.get("targetNamespace")] = etree.XMLSchema(standalone)
        messages = {}
        for message in root.iterfind(f"{{{NS_WSDL}}}message"):
            part = message.find(f"{{{NS_WSDL}}}part")
            prefix, local = part.get("element").split(":", 1)
            messages[message.get("name")] = etree.QName(part.nsmap[prefix], local)
        port_ops = {}
        for op in root.iterfind(f"{{{NS_WSDL}}}portType/{{{NS_WSDL}}}operation"):

            def msg(tag: str, op: etree._Element = op) -> etree.QName:
                return messages[op.find(f"{{{NS_WSDL}}}{tag}").get("message").split(":", 1)[1]]

            port_ops[op.get("name")] = (msg("input"), msg("output"), msg("fault"))
        self.service_name = root.find(f"{{{NS_WSDL}}}service").get("name")
        self.ci = self.service_name.removeprefix("CI_")
        self.by_action: dict[str, _Operation] = {}
        for op in root.iterfind(f"{{{NS_WSDL}}}binding/{{{NS_WSDL}}}operation"):
            action = op.find(f"{{{NS_WSDL_SOAP}}}operation").get("soapAction")
            name = op.get("name")
            request, response, fault = port_ops[name]
            verb = name.removeprefix(f"{self.service_name}_")
            self.by_action[action] = _Operation(self.ci, verb, name, request, response, fault.namespace)
        self.document = Document(str(path), Transport(), settings=Settings(forbid_dtd=True, forbid_external=True))

    def render(self, qname: etree.QName, data: dict[str, Any]) -> etree._Element:
        """The response element for ``data`` (canonical names), in the element names this WSDL uses."""
        element = self.document.types.get_element(qname)
        holder = etree.Element("holder")
        element.render(holder, element(**_served(element.type, data)))
        return holder[0]

    def wsdl_for(self, address: str, external_schemas: bool = False) -> bytes:
        """The WSDL with soap:address pointing at ``address``; with ``external_schemas`` each message
        schema is replaced by an ``xsd:import`` of ``{address}/M<n>.V1.xsd``, as a live gateway serves it."""
        root = etree.fromstring(self.text)
        for node in root.iter(f"{{{NS_WSDL_SOAP}}}address"):
            node.set("location", address)
        if external_schemas:
            types = root.find(f"{{{NS_WSDL}}}types")
            for schema in list(types):
                namespace = schema.get("targetNamespace")
                stub = etree.SubElement(types, f"{{{NS_XSD}}}schema", elementFormDefault="qualified")
                location = f"{address}/{namespace.rsplit('/', 1)[-1]}.xsd"
                etree.SubElement(stub, f"{{{NS_XSD}}}import", namespace=namespace, schemaLocation=location)
                types.replace(schema, stub)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def schema_text(self, name: str) -> bytes | None:
        """The message schema ``M<n>.V<v>`` as a standalone XSD document."""
        root = etree.fromstring(self.text)
        for schema in root.iterfind(f"{{{NS_WSDL}}}types/{{{NS_XSD}}}schema"):
            if schema.get("targetNamespace", "").endswith("/" + name):
                return etree.tostring(etree.fromstring(etree.tostring(schema)), xml_declaration=True, encoding="UTF-8")
        return None


@cache
def published_lengths() -> dict[str, int]:
    """PeopleSoft field lengths as the published material gives them (tests/contracts/peoplesoft): the
    record definitions transcribed, and the maxLength facets of the generated CI_CI_PERSONAL_DATA WSDL.
    A PeopleSoft field has one length wherever it is used."""
    folder = contract_path("peoplesoft", "sources.toml").parent
    lengths: dict[str, int] = {}
    for record in sorted(folder.glob("fields-*.json")):
        for name, spec in json.loads(record.read_text(encoding="utf-8"))["fields"].items():
            if "length" in spec:
                lengths[name] = spec["length"]
    generated = etree.parse(str(contract_path("peoplesoft", "CI_CI_PERSONAL_DATA.1.wsdl"))).getroot()
    lengths.update(_declared_lengths(generated))
    return lengths


def _declared_lengths(root: etree._Element) -> dict[str, int]:
    """Field name -> maxLength of every ``<field>TypeDef`` simple type a WSDL declares."""
    out: dict[str, int] = {}
    for simple in root.iter(f"{{{NS_XSD}}}simpleType"):
        facet = simple.find(f"{{{NS_XSD}}}restriction/{{{NS_XSD}}}maxLength")
        name = simple.get("name", "")
        if facet is not None and name.endswith("TypeDef"):
            out[_plain(name.removesuffix("TypeDef"))] = int(facet.get("value"))
    return out


def _check_published_lengths(name: str, root: etree._Element) -> None:
    """Refuse to serve a WSDL that gives a PeopleSoft field another length than the published one: the
    sandbox would otherwise accept values the real gateway refuses (a 254-character DESCR, say)."""
    published = published_lengths()
    wrong = {f: n for f, n in _declared_lengths(root).items() if f in published and published[f] != n}
    if wrong:
        detail = ", ".join(f"{f} {n} (PeopleSoft: {published[f]})" for f, n in sorted(wrong.items()))
        raise ValueError(f"{name} declares field lengths PeopleSoft does not have: {detail}")


_SERVICES: dict[Path, dict[str, _Service]] = {}
_SERVICES_LOCK = threading.Lock()


def _services(wsdl_dir: Path) -> dict[str, _Service]:
    with _SERVICES_LOCK:
        if wsdl_dir not in _SERVICES:
            _SERVICES[wsdl_dir] = {p.name.removesuffix(".wsdl"): _Service(p) for p in sorted(wsdl_dir.glob("*.wsdl"))}
        return _SERVICES[wsdl_dir]


# -- SOAP envelopes ----------------------------------------------------------------------------


def _envelope(body_child: etree._Element | None = None) -> etree._Element:
    envelope = etree.Element(f"{{{NS_SOAP}}}Envelope", nsmap={"soapenv": NS_SOAP})
    body = etree.SubElement(envelope, f"{{{NS_SOAP}}}Body")
    if body_child is not None:
        body.append(body_child)
    return envelope


def _ib_response(parent: etree._Element, ns: str | None, message_set: int, number: int, text: str, status: int) -> None:
    def q(name: str) -> str:
        return f"{{{ns}}}{name}" if ns else name

    ib = etree.SubElement(parent, q("IBResponse"), type="error")
    etree.SubElement(ib, q("DefaultTitle")).text = "Integration Broker Response"
    etree.SubElement(ib, q("StatusCode")).text = str(status)
    etree.SubElement(ib, q("MessageSetID")).text = str(message_set)
    etree.SubElement(ib, q("MessageID")).text = str(number)
    etree.SubElement(ib, q("DefaultMessage")).text = text
    return ib


def _fault_envelope(faultstring: str, detail_builder: Callable[[etree._Element], None]) -> bytes:
    envelope = _envelope()
    fault = etree.SubElement(envelope[0], f"{{{NS_SOAP}}}Fault")
    etree.SubElement(fault, "faultcode").text = "soapenv:Server"
    etree.SubElement(fault, "faultstring").text = faultstring
    detail = etree.SubElement(fault, "detail")
    detail_builder(detail)
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def ci_fault(operation: _Operation, error: CIError) -> bytes:
    def build(detail: etree._Element) -> None:
        ns = operation.fault_ns
        cifault = etree.SubElement(detail, f"{{{ns}}}CIFault", nsmap={None: ns})
        ib = _ib_response(cifault, ns, error.message_set, error.number, error.text, 20)
        if error.keys:
            params = etree.SubElement(ib, f"{{{ns}}}MessageParameters")
            info = etree.SubElement(params, f"{{{ns}}}keyinformation")
            for key, val in error.keys.items():
                etree.SubElement(info, f"{{{ns}}}{key}").text = str(val)

    return _fault_envelope("null", build)


def gateway_fault(error: GatewayError) -> bytes:
    return _fault_envelope(
        error.text, lambda detail: _ib_response(detail, None, error.message_set, error.number, error.text, 20)
    )


# -- request parsing ---------------------------------------------------------------------------


def _parse_body(raw: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise GatewayError(500, 158, 10100, f"Integration Gateway: invalid XML in request ({exc.msg})") from None
    if root.getroottree().docinfo.doctype or b"<!DOCTYPE" in raw[:2048].upper():
        raise GatewayError(500, 158, 10101, "Integration Gateway: request documents with a DTD are not accepted")
    return root


def _typed(name: str, text: str | None) -> Any:
    field_name = name.split("_", 1)[1] if name.startswith(("PROP_", "KEYPROP_")) else name
    if text is None:
        return ""
    if field_name in DECIMAL_FIELDS:
        return Decimal(text)
    if field_name in DATE_FIELDS:
        return date.fromisoformat(text)
    if field_name in INT_FIELDS:
        return int(text)
    return text


def _fields(element: etree._Element, keys: set[str]) -> dict[str, Any]:
    """A validated request's data under canonical (prefixed) names; ``keys`` are the level's key fields."""
    data: dict[str, Any] = {}
    for child in element:
        has_children = len(child) > 0
        name = _canonical(etree.QName(child).localname, has_children, keys)
        if name.startswith("COLL_"):
            data.setdefault(name, []).append(_fields(child, ROW_KEYS))
        else:
            data[name] = _typed(name, child.text)
    return data


def _plain(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _canonical(name: str, has_children: bool, keys: set[str]) -> str:
    """The sandbox's stored name of an element, whichever style it arrived in: KEYPROP_/PROP_/COLL_ + field."""
    if name.startswith(_PREFIXES):
        return name
    if has_children:
        return f"COLL_{name}"
    return f"KEYPROP_{name}" if name in keys else f"PROP_{name}"


def _served(xsd_type: Any, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` keyed by the element names ``xsd_type`` declares (matched on the plain field name)."""
    by_plain = {_plain(key): value for key, value in data.items()}
    out: dict[str, Any] = {}
    for name, element in getattr(xsd_type, "elements", []):
        plain = _plain(name)
        if name == "_value_1" or plain not in by_plain:
            continue
        value = by_plain[plain]
        nested = [n for n, _ in getattr(element.type, "elements", []) if n != "_value_1"]
        if nested and isinstance(value, list):
            out[name] = [_served(element.type, row) for row in value]
        elif nested and isinstance(value, dict):
            out[name] = _served(element.type, value)
        else:
            out[name] = value
    return out


def _key_names(data: dict[str, Any]) -> list[str]:
    return [k for k in data if k.startswith("KEYPROP_")]


def _merged(row: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``row`` updated as a CI Update does: fields replaced, child rows matched on their keys (at any depth)
    and updated, rows with new keys added, rows not sent left as they are."""
    out = copy.deepcopy(row)
    for name, value in data.items():
        if not name.startswith("COLL_"):
            out[name] = value
            continue
        current = {tuple(line[k] for k in _key_names(line)): line for line in out.get(name, [])}
        for line in value:
            ident = tuple(line[k] for k in _key_names(line))
            current[ident] = _merged(current.get(ident, {}), line)
        out[name] = list(current.values())
    return out


# -- the Component Interfaces --------------------------------------------------------------------

KEYS = {
    "CUSTOMER_CI": ("KEYPROP_SETID", "KEYPROP_CUST_ID"),
    "JOURNAL_ENTRY_CI": ("KEYPROP_BUSINESS_UNIT", "KEYPROP_JOURNAL_ID", "KEYPROP_JOURNAL_DATE"),
    "AR_PENDING_ITEM_CI": (
        "KEYPROP_GROUP_BU",
        "KEYPROP_GROUP_ID",
        "KEYPROP_BUSINESS_UNIT",
        "KEYPROP_CUST_ID",
        "KEYPROP_ITEM",
        "KEYPROP_ITEM_LINE",
    ),
    "VCHR_EXPRESS": ("KEYPROP_BUSINESS_UNIT", "KEYPROP_VOUCHER_ID"),
}
FIND_OUT = {
    "CUSTOMER_CI": ("PROP_NAME1", "PROP_EMAILID", "PROP_CUSTOMER_REF", "PROP_CUST_STATUS"),
    "JOURNAL_ENTRY_CI": ("PROP_DESCR", "PROP_SOURCE", "PROP_JRNL_HDR_STATUS"),
    "AR_PENDING_ITEM_CI": (
        "PROP_ENTRY_TYPE",
        "PROP_ENTRY_AMT",
        "PROP_BAL_AMT",
        "PROP_CURRENCY_CD",
        "PROP_DOCUMENT",
        "PROP_DESCR",
    ),
    "VCHR_EXPRESS": (
        "PROP_INVOICE_ID",
        "PROP_VENDOR_ID",
        "PROP_GROSS_AMT",
        "PROP_TXN_CURRENCY_CD",
        "PROP_ENTRY_STATUS",
        "PROP_DESCR",
    ),
}
AR_ENTRY_TYPES = {"IN": 1, "DM": 1, "CR": -1, "PY": -1}


class _Gateway:
    def __init__(self, state: PeopleSoftState) -> None:
        self.state = state

    # validation of business rules -------------------------------------------------------------

    def _check_customer(self, row: dict[str, Any]) -> None:
        if row["KEYPROP_SETID"] not in self.state.setids:
            raise CIError(
                91,
                8,
                f"Invalid value -- press the prompt button or hyperlink for a list of valid values "
                f"(SETID={row['KEYPROP_SETID']}). (15,11)",
            )
        if row.get("PROP_CUST_STATUS", "A") not in ("A", "I", "T"):
            raise CIError(15, 11, f"Invalid value for CUST_STATUS: {row.get('PROP_CUST_STATUS')}. (15,11)")
        for sequence in row.get("COLL_CUST_ADDR_SEQ", []):
            number = sequence["KEYPROP_ADDRESS_SEQ_NUM"]
            addresses = sequence.get("COLL_CUST_ADDRESS", [])
            if not addresses:
                raise CIError(6010, 1, f"Address sequence {number} has no effective-dated address row.")
            for address in addresses:
                if address.get("PROP_EFF_STATUS", "A") not in ("A", "I"):
                    raise CIError(15, 11, f"Invalid value for EFF_STATUS on address sequence {number}. (15,11)")

    def _check_journal(self, row: dict[str, Any]) -> None:
        keys = {k: row[k] for k in KEYS["JOURNAL_ENTRY_CI"]}
        if row["KEYPROP_BUSINESS_UNIT"] not in self.state.business_units:
            raise CIError(5830, 1, f"Invalid Business Unit {row['KEYPROP_BUSINESS_UNIT']}.", keys)
        lines = row.get("COLL_JRNL_LN", [])
        if not lines:
            raise CIError(5830, 2, "Journal has no lines.", keys)
        seen = set()
        for line in lines:
            number = line["KEYPROP_JOURNAL_LINE"]
            if number in seen:
                raise CIError(18, 2, f"Data being added conflicts with existing data. JOURNAL_LINE={number} (18,2)")
            seen.add(number)
            self._check_chartfields(line, f"line {number}", keys)
        base = sum((line.get("PROP_MONETARY_AMOUNT", Decimal(0)) for line in lines), Decimal(0))
        if base != 0:
            debits = sum(
                (line["PROP_MONETARY_AMOUNT"] for line in lines if line["PROP_MONETARY_AMOUNT"] > 0), Decimal(0)
            )
            raise CIError(
                5830,
                20,
                f"Journal is out of balance: debits {debits}, credits {debits - base} (difference {base}).",
                keys,
            )
        by_currency: dict[str, Decimal] = {}
        for line in lines:
            currency = line.get("PROP_FOREIGN_CURRENCY", "")
            by_currency[currency] = by_currency.get(currency, Decimal(0)) + line.get("PROP_FOREIGN_AMOUNT", Decimal(0))
        for currency, total in by_currency.items():
            if total != 0:
                raise CIError(5830, 21, f"Journal is out of balance in {currency} by {total}.", keys)

    def _check_chartfields(self, line: dict[str, Any], where: str, keys: dict[str, Any]) -> None:
        account = line.get("PROP_ACCOUNT", "")
        deptid = line.get("PROP_DEPTID", "")
        valid = self.state.valid_accounts
        if not account or (valid is not None and account not in valid):
            raise CIError(5830, 10, f"Invalid ChartField value: ACCOUNT={account} on {where}.", keys)
        allowed = self.state.account_deptids.get(account)
        if allowed is not None and deptid not in allowed:
            raise CIError(
                5830, 11, f"Invalid ChartField combination: ACCOUNT={account}, DEPTID={deptid} ({where}).", keys
            )

    def _invoice_item(self, row: dict[str, Any], item: str) -> dict[str, Any] | None:
        """The stored IN/DM item of the same business unit and customer with this ITEM, if any."""
        for other in self._table("AR_PENDING_ITEM_CI").values():
            if (
                other["KEYPROP_BUSINESS_UNIT"] == row["KEYPROP_BUSINESS_UNIT"]
                and other["KEYPROP_CUST_ID"] == row["KEYPROP_CUST_ID"]
                and other["KEYPROP_ITEM"] == item
                and other.get("PROP_ENTRY_TYPE") in ("IN", "DM")
            ):
                return other
        return None

    def _check_ar_item(self, row: dict[str, Any]) -> None:
        """Pending-item edits. Sign convention (as in PS_PENDING_DST): distributions are signed debit-positive
        and offset the item, so they sum to -ENTRY_AMT; ARUPDATE generates the AR line itself."""
        keys = {k: row[k] for k in KEYS["AR_PENDING_ITEM_CI"]}
        for name in ("KEYPROP_GROUP_BU", "KEYPROP_BUSINESS_UNIT"):
            if row[name] not in self.state.business_units:
                raise CIError(6030, 1, f"Invalid Business Unit {row[name]}.", keys)
        customers = {c["KEYPROP_CUST_ID"] for c in self._table("CUSTOMER_CI").values()}
        if row["KEYPROP_CUST_ID"] not in customers:
            raise CIError(6030, 2, f"Invalid value for CUST_ID: {row['KEYPROP_CUST_ID']} is not a customer.", keys)
        entry_type = row.get("PROP_ENTRY_TYPE", "")
        if entry_type not in AR_ENTRY_TYPES:
            raise CIError(6030, 3, f"Invalid ENTRY_TYPE {entry_type}.", keys)
        amount = row.get("PROP_ENTRY_AMT", Decimal(0))
        if amount == 0 or (amount > 0) != (AR_ENTRY_TYPES[entry_type] > 0):
            raise CIError(6030, 4, f"ENTRY_AMT {amount} has the wrong sign for entry type {entry_type}.", keys)
        dsts = row.get("COLL_PENDING_DST", [])
        if not dsts:
            raise CIError(6030, 5, "Pending item has no distribution lines.", keys)
        seen = set()
        for dst in dsts:
            number = dst["KEYPROP_DST_SEQ_NUM"]
            if number in seen:
                raise CIError(18, 2, f"Data being added conflicts with existing data. DST_SEQ_NUM={number} (18,2)")
            seen.add(number)
            self._check_chartfields(dst, f"distribution {number}", keys)
        total = sum((dst.get("PROP_FOREIGN_AMOUNT", Decimal(0)) for dst in dsts), Decimal(0))
        if total != -amount:
            raise CIError(6030, 20, f"Distribution lines total {total} but must offset the item amount {amount}.", keys)
        if entry_type == "PY" and self._invoice_item(row, row["KEYPROP_ITEM"]) is None:
            raise CIError(6030, 30, f"Item {row['KEYPROP_ITEM']} does not exist for this customer.", keys)
        document = row.get("PROP_DOCUMENT", "")
        if entry_type == "CR" and document and self._invoice_item(row, document) is None:
            raise CIError(6030, 31, f"Document {document} is not an item of this customer.", keys)

    def _check_voucher(self, row: dict[str, Any]) -> None:
        keys = {k: row[k] for k in KEYS["VCHR_EXPRESS"]}
        if row["KEYPROP_BUSINESS_UNIT"] not in self.state.business_units:
            raise CIError(7030, 1, f"Invalid Business Unit {row['KEYPROP_BUSINESS_UNIT']}.", keys)
        if row["KEYPROP_VOUCHER_ID"] == "NEXT":
            raise CIError(
                7030, 2, "VOUCHER_ID NEXT is not accepted by this sandbox (keys must be deterministic).", keys
            )
        vendor = row.get("PROP_VENDOR_ID", "")
        if not vendor or (self.state.vendor_ids is not None and vendor not in self.state.vendor_ids):
            raise CIError(7030, 3, f"Invalid value for VENDOR_ID: {vendor}.", keys)
        lines = row.get("COLL_VCHR_LINE_STG", [])
        if not lines:
            raise CIError(7030, 5, "Voucher has no lines.", keys)
        gross = row.get("PROP_GROSS_AMT", Decimal(0))
        line_total = Decimal(0)
        for line in lines:
            number = line["KEYPROP_VOUCHER_LINE_NUM"]
            dists = line.get("COLL_VCHR_DIST_STG", [])
            if not dists:
                raise CIError(7030, 6, f"Voucher line {number} has no distribution lines.", keys)
            for dist in dists:
                self._check_chartfields(
                    dist, f"voucher line {number} distribution {dist['KEYPROP_DISTRIB_LINE_NUM']}", keys
                )
            merchandise = line.get("PROP_MERCHANDISE_AMT", Decimal(0))
            dist_total = sum((d.get("PROP_MERCHANDISE_AMT", Decimal(0)) for d in dists), Decimal(0))
            if dist_total != merchandise:
                raise CIError(
                    7030, 20, f"Voucher line {number}: distributions {dist_total} differ from {merchandise}.", keys
                )
            line_total += merchandise
        if line_total != gross:
            raise CIError(7030, 21, f"Voucher lines total {line_total} but GROSS_AMT is {gross}.", keys)

    def _check(self, ci: str, row: dict[str, Any]) -> None:
        if ci == "CUSTOMER_CI":
            self._check_customer(row)
        elif ci == "JOURNAL_ENTRY_CI":
            self._check_journal(row)
        elif ci == "AR_PENDING_ITEM_CI":
            self._check_ar_item(row)
        elif ci == "VCHR_EXPRESS":
            self._check_voucher(row)

    # verbs -----------------------------------------------------------------------------------------

    def _table(self, ci: str) -> dict[tuple, dict[str, Any]]:
        return self.state._records.setdefault(ci, {})

    def _key(self, ci: str, data: dict[str, Any]) -> tuple:
        return tuple(data.get(k) for k in KEYS[ci])

    def create(self, op: _Operation, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Returns (response data, committed)."""
        ci = op.ci
        with self.state.lock:
            row = dict(data)
            if ci == "JOURNAL_ENTRY_CI":
                row.setdefault("PROP_JRNL_HDR_STATUS", "N")
                if row["KEYPROP_JOURNAL_ID"] == "NEXT":
                    self.state._next_journal += 1
                    row["KEYPROP_JOURNAL_ID"] = f"{self.state._next_journal:010d}"
            key = self._key(ci, row)
            table = self._table(ci)
            if key in table:
                raise CIError(
                    18,
                    2,
                    "Data being added conflicts with existing data (duplicate key). (18,2)",
                    dict(zip(KEYS[ci], key, strict=True)),
                )
            self._check(ci, row)
            if ci == "AR_PENDING_ITEM_CI":
                self._apply_ar_item(row)
            elif ci == "VCHR_EXPRESS":
                row.setdefault("PROP_ENTRY_STATUS", "R")
            row["_LASTUPDDT"] = datetime.now(UTC).date()
            table[key] = row
        keys = {k: row[k] for k in KEYS[ci]}
        return {"notification": 1, "detail": {ci: keys}}, True

    def _apply_ar_item(self, row: dict[str, Any]) -> None:
        """What ARUPDATE would do at once: an item opens with its amount; a payment lowers its item's balance."""
        if row["PROP_ENTRY_TYPE"] == "PY":
            invoice = self._invoice_item(row, row["KEYPROP_ITEM"])
            invoice["PROP_BAL_AMT"] = invoice.get("PROP_BAL_AMT", invoice["PROP_ENTRY_AMT"]) + row["PROP_ENTRY_AMT"]
            row["PROP_BAL_AMT"] = Decimal(0)
        else:
            row["PROP_BAL_AMT"] = row["PROP_ENTRY_AMT"]

    def get(self, op: _Operation, data: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            row = self._table(op.ci).get(self._key(op.ci, data))
            if row is None:
                raise CIError(91, 50, f"No rows exist for the specified keys. {{{op.ci}}} (91,50)", data)
            return {k: copy.deepcopy(v) for k, v in row.items() if not k.startswith("_")}

    def find(self, op: _Operation, data: dict[str, Any]) -> dict[str, Any]:
        criteria = {k: str(v) for k, v in data.items() if v not in ("", None)}
        rows = []
        with self.state.lock:
            for row in self._table(op.ci).values():
                if all(str(row.get(k, "")).upper().startswith(v.upper()) for k, v in criteria.items()):
                    rows.append({k: row[k] for k in (*KEYS[op.ci], *FIND_OUT[op.ci]) if k in row})
        if len(rows) > 300:
            rows = rows[:300]
        return {op.ci: rows}

    def update(self, op: _Operation, data: dict[str, Any]) -> dict[str, Any]:
        ci = op.ci
        with self.state.lock:
            table = self._table(ci)
            key = self._key(ci, data)
            if key not in table:
                raise CIError(91, 50, f"No rows exist for the specified keys. {{{ci}}} (91,50)", data)
            row = _merged(table[key], data)
            self._check(ci, row)
            row["_LASTUPDDT"] = datetime.now(UTC).date()
            table[key] = row
        return {"notification": 1, "detail": {ci: {k: row[k] for k in KEYS[ci]}}}


# -- WSGI app ----------------------------------------------------------------------------------------


def _basic(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _xml(body: bytes, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(body, status=status, headers=Headers(list(headers)), content_type="text/xml; charset=UTF-8")


def create_app(state: PeopleSoftState) -> Callable:
    """The WSGI application simulating ``state``'s gateway."""
    services = _services(state.served_wsdl_dir)
    by_action = {action: (svc, op) for svc in services.values() for action, op in svc.by_action.items()}
    gateway = _Gateway(state)

    def unauthorized_basic() -> Response:
        body = gateway_fault(GatewayError(401, 158, 10502, "Authentication failed: invalid user ID or password."))
        return _xml(body, 401, [("WWW-Authenticate", 'Basic realm="PeopleSoft"')])

    def check_http_auth(request: Request, allow_basic_for_wss: bool) -> Response | None:
        header = request.headers.get("Authorization", "")
        if state.auth == "oauth2":
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            if not token or not state.token_valid(token):
                state.count("auth_failed")
                body = gateway_fault(
                    GatewayError(401, 158, 10510, "OAuth2 access token is missing, invalid or expired.")
                )
                return _xml(body, 401, [("WWW-Authenticate", 'Bearer error="invalid_token"')])
            return None
        if (state.auth == "basic" or allow_basic_for_wss) and _basic(header) != (state.username, state.password):
            state.count("auth_failed")
            return unauthorized_basic()
        return None

    def check_wss(envelope: etree._Element) -> None:
        token = envelope.find(f"{{{NS_SOAP}}}Header/{{{NS_WSSE}}}Security/{{{NS_WSSE}}}UsernameToken")
        user = token.findtext(f"{{{NS_WSSE}}}Username") if token is not None else None
        password = token.findtext(f"{{{NS_WSSE}}}Password") if token is not None else None
        if (user, password) != (state.username, state.password):
            state.count("auth_failed")
            raise GatewayError(500, 158, 10502, "Authentication failed: invalid user ID or password in UsernameToken.")

    def token_endpoint(request: Request) -> Response:
        state.count("token")
        if request.form.get("grant_type") != "client_credentials":
            return Response(json.dumps({"error": "unsupported_grant_type"}), 400, content_type="application/json")
        creds = _basic(request.headers.get("Authorization", "")) or (
            request.form.get("client_id", ""),
            request.form.get("client_secret", ""),
        )
        if creds != (state.client_id, state.client_secret):
            return Response(json.dumps({"error": "invalid_client"}), 401, content_type="application/json")
        body = {
            "access_token": state.issue_token(),
            "token_type": "Bearer",
            "expires_in": state.token_lifetime_seconds,
        }
        return Response(json.dumps(body), 200, content_type="application/json")

    def inject_failure() -> Response | None:
        with state.lock:
            if state.fail_next_n > 0:
                state.fail_next_n -= 1
                state.count("injected_500")
                return Response("<html><body>Internal Server Error</body></html>", 500, content_type="text/html")
            if state.error_rate and state.rng().random() < state.error_rate:
                state.count("injected_503")
                return Response("<html><body>Service Unavailable</body></html>", 503, content_type="text/html")
        return None

    def wsdl(request: Request, name: str) -> Response:
        state.count("wsdl")
        service = services.get(name)
        if service is None:
            return _xml(gateway_fault(GatewayError(404, 158, 10300, f"WSDL {name} not found.")), 404)
        address = f"{request.host_url.rstrip('/')}{LISTENING}/{state.node}"
        return _xml(service.wsdl_for(address, external_schemas=state.wsdl_external_schemas))

    def xsd(name: str) -> Response:
        state.count("xsd")
        for service in services.values():
            text = service.schema_text(name)
            if text is not None:
                return _xml(text)
        return _xml(gateway_fault(GatewayError(404, 158, 10301, f"Schema {name} not found.")), 404)

    def soap(request: Request, node: str) -> Response:
        raw = request.get_data()
        try:
            envelope = _parse_body(raw)
            if node != state.node:
                raise GatewayError(500, 158, 10200, f"Integration Gateway: unknown node {node}.")
            if state.auth == "wss":
                check_wss(envelope)
            action = (request.headers.get("SOAPAction") or "").strip().strip('"')
            if action not in by_action:
                raise GatewayError(500, 158, 10201, f"Integration Gateway: no service operation for {action!r}.")
            service, op = by_action[action]
            body = envelope.find(f"{{{NS_SOAP}}}Body")
            payload = body[0] if body is not None and len(body) else None
            if payload is None or etree.QName(payload) != op.request:
                raise GatewayError(500, 158, 10202, f"Request root does not match {op.name}.")
        except GatewayError as error:
            return _xml(gateway_fault(error), error.status)
        state.count(op.name)
        try:
            schema = service.schemas[op.request.namespace]
            standalone = etree.fromstring(etree.tostring(payload))
            if not schema.validate(standalone):
                problem = schema.error_log.last_error
                raise CIError(158, 10400, f"Message does not conform to {op.name}: {problem.message}")
            data = _fields(payload, {_plain(k) for k in KEYS[op.ci]})
            committed = False
            if op.verb == "C":
                response, committed = gateway.create(op, data)
            elif op.verb == "G":
                response = gateway.get(op, data)
            elif op.verb == "F":
                response = gateway.find(op, data)
            else:
                response = gateway.update(op, data)
        except CIError as error:
            return _xml(ci_fault(op, error), 500)
        except (InvalidOperation, ValueError) as error:
            return _xml(ci_fault(op, CIError(158, 10401, f"Invalid field value: {error}")), 500)
        if committed and state.timeout_after_commit:
            key = (op.ci, *gateway._key(op.ci, data))
            with state.lock:
                first = key not in state._timed_out
                state._timed_out.add(key)
            if first or not state.timeout_after_commit_first_attempt_only:
                state.count("timeout_after_commit")
                if state.timeout_after_commit_mode == "504":
                    return Response("<html><body>504 Gateway Time-out</body></html>", 504, content_type="text/html")
                time.sleep(state.timeout_after_commit_seconds)
        out = etree.tostring(_envelope(service.render(op.response, response)), encoding="UTF-8")
        if state.respond_with_dtd:
            out = (
                b'<?xml version="1.0"?>\n<!DOCTYPE soapenv:Envelope [<!ENTITY ext SYSTEM "file:///etc/passwd">]>\n'
                + out
            )
        else:
            out = b'<?xml version="1.0" encoding="UTF-8"?>\n' + out
        return _xml(out)

    def rest(request: Request, node: str, rest_path: str) -> Response:
        if node != state.node:
            return Response(json.dumps({"error": f"unknown node {node}"}), 404, content_type="application/json")
        denied = check_http_auth(request, allow_basic_for_wss=True)
        if denied is not None:
            return denied
        parts = rest_path.split("/")
        operations = {f"{op}.v1": kind for kind, op in state.inquiry_operations.items()}
        if len(parts) != 4 or parts[0] not in operations:
            return Response(json.dumps({"error": "no such service operation"}), 404, content_type="application/json")
        kind = operations[parts[0]]
        state.count(f"rest:{parts[0]}")
        try:
            first, last = date.fromisoformat(parts[2]), date.fromisoformat(parts[3])
        except ValueError:
            return Response(json.dumps({"error": "dates are YYYY-MM-DD"}), 400, content_type="application/json")
        items = []
        with state.lock:
            if kind == "journals":
                for row in state._records.get("JOURNAL_ENTRY_CI", {}).values():
                    if row["KEYPROP_BUSINESS_UNIT"] == parts[1] and first <= row["KEYPROP_JOURNAL_DATE"] <= last:
                        lines = row.get("COLL_JRNL_LN", [])
                        items.append(
                            {
                                "BUSINESS_UNIT": row["KEYPROP_BUSINESS_UNIT"],
                                "JOURNAL_ID": row["KEYPROP_JOURNAL_ID"],
                                "JOURNAL_DATE": row["KEYPROP_JOURNAL_DATE"].isoformat(),
                                "DESCR": row.get("PROP_DESCR", ""),
                                "SOURCE": row.get("PROP_SOURCE", ""),
                                "JRNL_HDR_STATUS": row.get("PROP_JRNL_HDR_STATUS", ""),
                                "FOREIGN_CURRENCY": row.get("PROP_FOREIGN_CURRENCY", ""),
                                "TOTAL_DEBITS": str(
                                    sum(
                                        (ln["PROP_MONETARY_AMOUNT"] for ln in lines if ln["PROP_MONETARY_AMOUNT"] > 0),
                                        Decimal(0),
                                    )
                                ),
                                "LINE_COUNT": len(lines),
                            }
                        )
            else:
                for row in state._records.get("CUSTOMER_CI", {}).values():
                    if row["KEYPROP_SETID"] == parts[1] and first <= row["_LASTUPDDT"] <= last:
                        items.append(
                            {
                                "SETID": row["KEYPROP_SETID"],
                                "CUST_ID": row["KEYPROP_CUST_ID"],
                                "NAME1": row.get("PROP_NAME1", ""),
                                "EMAILID": row.get("PROP_EMAILID", ""),
                                "CUSTOMER_REF": row.get("PROP_CUSTOMER_REF", ""),
                                "LASTUPDDT": row["_LASTUPDDT"].isoformat(),
                            }
                        )
        return Response(json.dumps({"items": items, "count": len(items)}), 200, content_type="application/json")

    def dispatch(request: Request) -> Response:
        path = request.path.rstrip("/")
        if path == "/oauth2/token" and request.method == "POST":
            return token_endpoint(request)
        if path.startswith(LISTENING):
            rest_of = path[len(LISTENING) :].strip("/")
            if request.method == "GET":
                if request.args.get("Operation") == "GetWSDL":
                    return wsdl(request, request.args.get("wsdl", ""))
                if request.args.get("Operation") == "GetSchema":
                    return xsd(request.args.get("xsd", ""))
                if rest_of.endswith(".xsd") and "/" in rest_of:
                    return xsd(rest_of.split("/", 1)[1].removesuffix(".xsd"))
                if rest_of.endswith(".wsdl") and "/" in rest_of:
                    node, name = rest_of.split("/", 1)
                    if node != state.node:
                        return _xml(gateway_fault(GatewayError(404, 158, 10200, f"unknown node {node}")), 404)
                    return wsdl(request, name.removesuffix(".wsdl"))
                return Response("PeopleSoft Integration Gateway", 200, content_type="text/plain")
            if request.method == "POST":
                node = rest_of or request.args.get("To", "")
                injected = inject_failure()
                if injected is not None:
                    return injected
                denied = check_http_auth(request, allow_basic_for_wss=False)
                if denied is not None:
                    return denied
                return soap(request, node)
        if path.startswith(REST) and request.method == "GET":
            node, _, rest_path = path[len(REST) :].strip("/").partition("/")
            injected = inject_failure()
            if injected is not None:
                return injected
            return rest(request, node, rest_path)
        return Response("not found", 404, content_type="text/plain")

    def is_erp_call(request: Request) -> bool:
        """Service calls (SOAP posts, REST inquiries) take ``latency_seconds``; WSDLs and tokens do not."""
        if request.path.startswith(LISTENING):
            return request.method == "POST"
        return request.path.startswith(REST) and request.method == "GET"

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        arrived = arrival(environ)
        request = Request(environ)
        erp_call = is_erp_call(request)
        if erp_call:
            state.call_started()
        try:
            try:
                response = dispatch(request)
            except HTTPException as exc:
                response = exc.get_response(environ)
            if state.latency_seconds and erp_call:
                answer_after(state.latency_seconds, arrived)
        finally:
            if erp_call:
                state.call_ended()
        return response(environ, start_response)

    return app
