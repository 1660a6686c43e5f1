"""A JD Edwards EnterpriseOne AIS server simulator (WSGI).

Serves the token service (``/jderest/v2/tokenrequest`` and ``/logout``), the orchestrator
(``/jderest/v2/orchestrator/<name>``) and the data service (``/jderest/v2/dataservice``), as
Oracle documents them in ``tests/contracts/jdedwards/`` (read through ``sandbox.contracts``):
a request body must be JSON (415 otherwise); a token request may carry only the documented
LoginRequest fields, a data request must fit the documented DataRequest (400 otherwise); the
token response has the shape of Oracle's example, ``userAuthorized`` false included, and names
the user's date format (``userInfo.dateFormat``, ``dateSeperator``, ``simpleDateFormat``), which
is set per simulated user (``JdeState.user_date_formats``, default ``MDE`` and ``/``).
Tokens are bound to the device name and expire after a configurable lifetime; an unknown,
expired or logged-out token is answered with HTTP 444 and a ServiceErrorResponse body.

Dates reach the orchestrations and the data service as text, which EnterpriseOne reads in the
format of the user the token belongs to: a date in any other format is refused as the form
would refuse it ("Invalid Date"), and the data service shows dates in that format.

Orchestrations (names configurable) stand for the customer-built ones the connector expects:

* GL batch (``ORCH_MLC_AddGLBatch``): one journal entry (DCT JE) in a new batch (ICU) with a new
  document number; F0911 rows per line with the batch reference in VR01. Refuses a reference
  that already has a batch, accounts outside the chart of accounts ("Account Number Invalid"),
  batches out of balance, unknown companies and unreadable dates — with JDE-style form errors.
* GL lookup (``ORCH_MLC_GetGLBatch``): batch/document of a batch reference.
* Customer add (``ORCH_MLC_AddCustomer``) and update (``ORCH_MLC_UpdateCustomer``): F0101 rows
  with the next address number; a Long Address Number (ALKY) already in use is refused.

Error codes are the simulator's own (JDE's real data-dictionary codes differ per release); the
shapes follow AIS: ``errors[{CODE, TITLE, ERRORCONTROL, DESC, MOBILE}]`` under the form of the
failing service request, or ``userDefinedErrorText`` for an orchestration's custom error.
Fault injection: latency, the next N requests answered 500, and a timeout after commit on the
first attempt of each document (sleeping past the client's timeout, or a 500).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Literal

from jsonschema import Draft202012Validator
from werkzeug.wrappers import Request, Response

from sandbox.contracts import contract_json
from sandbox.runner import answer_after, arrival

TOKEN_PATH = "/jderest/v2/tokenrequest"
LOGOUT_PATH = "/jderest/v2/tokenrequest/logout"
DATA_SERVICE_PATHS = ("/jderest/v2/dataservice", "/jderest/dataservice")
ORCHESTRATOR_PREFIXES = ("/jderest/v2/orchestrator/",)

ACCOUNT_INVALID = ("0030", "Error: Account Number Invalid")
OUT_OF_BALANCE = ("0419", "Error: Batch Out of Balance")
COMPANY_INVALID = ("0026", "Error: Company Invalid")
DATE_INVALID = ("0004", "Error: Invalid Date")
AMOUNT_INVALID = ("0165", "Error: Invalid Amount")
REQUIRED = ("0001", "Error: Required Field Missing")
ADDRESS_NUMBER_INVALID = ("0003", "Error: Address Number Invalid")

DEFAULT_ACCOUNTS = frozenset(
    {
        "100.1110",
        "100.1210",
        "100.1220",
        "100.2150",
        "100.2160",
        "100.4110",
        "100.4110.WEB",
        "100.4190",
        "100.4300",
        "100.4900",
        "100.7990",
        "200.4110",
    }
)

#: A user profile's date format code, letter by letter: the Java pattern field and the digits it shows.
_DATE_CODE = {
    "D": ("dd", r"(?P<d>\d{2})"),
    "M": ("MM", r"(?P<m>\d{2})"),
    "E": ("yyyy", r"(?P<y>\d{4})"),
    "Y": ("yy", r"(?P<y>\d{2})"),
}


@dataclass(frozen=True)
class UserDates:
    """A simulated user's date format: the profile's order code (``DME``) and separator (``.``)."""

    code: str = "MDE"
    separator: str = "/"

    @property
    def pattern(self) -> str:
        """The Java SimpleDateFormat pattern AIS reports as ``simpleDateFormat`` (``dd.MM.yyyy``)."""
        return self.separator.join(_DATE_CODE[letter][0] for letter in self.code)

    def format(self, value: date) -> str:
        parts = {
            "D": f"{value.day:02d}",
            "M": f"{value.month:02d}",
            "E": f"{value.year:04d}",
            "Y": f"{value.year % 100:02d}",
        }
        return self.separator.join(parts[letter] for letter in self.code)

    def parse(self, text: str) -> date:
        """The date ``text`` shows in exactly this format; ValueError otherwise."""
        regex = re.escape(self.separator).join(_DATE_CODE[letter][1] for letter in self.code)
        match = re.fullmatch(regex, text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a date in the format {self.pattern}")
        year = int(match["y"]) + (2000 if "Y" in self.code else 0)
        return date(year, int(match["m"]), int(match["d"]))


@cache
def _schema(name: str) -> Draft202012Validator:
    """A validator for one schema of Oracle's AIS REST API (``tests/contracts/jdedwards/ais-rest.openapi.json``)."""
    spec = contract_json("jdedwards", "ais-rest.openapi.json")
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


def _documented_fields(name: str) -> set[str]:
    return set(contract_json("jdedwards", "ais-rest.openapi.json")["components"]["schemas"][name]["properties"])


def _violation(name: str, body: Any) -> str | None:
    """Why ``body`` is not a valid ``name`` as Oracle documents it, or None."""
    error = next(iter(sorted(_schema(name).iter_errors(body), key=lambda e: list(e.path))), None)
    if error is None:
        return None
    where = ".".join(str(p) for p in error.path)
    return f"{name}{'.' + where if where else ''}: {error.message}"


F0911_ORDER = ("ICU", "DOC", "JELN")
OPERATORS = frozenset(
    {"EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "BETWEEN", "LIST"}
    | {"STR_START_WITH", "STR_CONTAIN"}
)


class FormError(Exception):
    """A JDE form-level error (or a custom orchestration error when ``custom`` is set)."""

    def __init__(self, code: str, title: str, control: str = "", *, custom: str = "") -> None:
        super().__init__(title)
        self.code, self.title, self.control, self.custom = code, title, control, custom


class BadRequest(Exception):
    """A request AIS rejects before reaching the enterprise server (HTTP 400 ServiceErrorResponse)."""


@dataclass
class JdeState:
    """Configuration, stored tables and fault-injection knobs of one simulated AIS + database."""

    environment: str = "JDV920"
    users: dict[str, str] = field(default_factory=lambda: {"MLC_USER": "sandbox-password"})
    #: Each user's profile date format (order code and separator); users not named here have MDE and "/".
    user_date_formats: dict[str, UserDates] = field(default_factory=dict)
    token_lifetime_seconds: float = 1800.0
    companies: set[str] = field(default_factory=lambda: {"00001"})
    #: Accounts that exist, as ``BU.OBJ`` or ``BU.OBJ.SUB``.
    accounts: set[str] = field(default_factory=lambda: set(DEFAULT_ACCOUNTS))
    gl_orchestration: str = "ORCH_MLC_AddGLBatch"
    gl_lookup_orchestration: str = "ORCH_MLC_GetGLBatch"
    customer_orchestration: str = "ORCH_MLC_AddCustomer"
    customer_update_orchestration: str = "ORCH_MLC_UpdateCustomer"
    unique_long_address_number: bool = True
    #: HTTP status of a JDE data error (AIS answers many failed orchestrations with 500).
    data_error_status: int = 400
    next_batch: int = 1000
    next_document: int = 5000
    next_address_number: int = 7000
    # fault injection
    latency_seconds: float = 0.0
    fail_next_n: int = 0
    timeout_after_commit_first_attempt: bool = False
    timeout_after_commit_mode: Literal["sleep", "500"] = "sleep"
    timeout_after_commit_seconds: float = 2.0
    # stored data and counters (use the accessors below)
    requests: Counter = field(default_factory=Counter)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _log: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _tokens: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _batches: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _f0911: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _f0101: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _timed_out: set[str] = field(default_factory=set, repr=False)

    # -- accessors ------------------------------------------------------------------------------

    @property
    def batches(self) -> dict[str, dict[str, Any]]:
        """GL batches by batch reference (deep copies)."""
        with self.lock:
            return copy.deepcopy(self._batches)

    @property
    def f0911(self) -> list[dict[str, Any]]:
        """F0911 rows (deep copies), in creation order."""
        with self.lock:
            return copy.deepcopy(self._f0911)

    @property
    def f0101(self) -> list[dict[str, Any]]:
        """F0101 rows (deep copies), in creation order."""
        with self.lock:
            return copy.deepcopy(self._f0101)

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """Every request: method, path, HTTP status, and the orchestration or table it named."""
        with self.lock:
            return list(self._log)

    @property
    def active_tokens(self) -> int:
        with self.lock:
            now = time.monotonic()
            return sum(1 for t in self._tokens.values() if t["expires"] > now)

    def expire_all_tokens(self) -> None:
        """Invalidate every issued token now (the clients still believe theirs are valid)."""
        with self.lock:
            for token in self._tokens.values():
                token["expires"] = 0.0

    def count(self, name: str) -> None:
        with self.lock:
            self.requests[name] += 1

    def add_account_row(self, row: dict[str, Any]) -> None:
        """Seed an F0101 row as if keyed in by hand (AN8 from next numbers when absent)."""
        with self.lock:
            if "AN8" not in row:
                row = {**row, "AN8": self._next("next_address_number")}
            self._f0101.append(row)

    def dates_of(self, user: str) -> UserDates:
        """The date format of ``user``'s profile."""
        return self.user_date_formats.get(user, UserDates())

    def _next(self, counter: str) -> int:
        value = getattr(self, counter)
        setattr(self, counter, value + 1)
        return value


# -- responses -----------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, default=_default), status=status, mimetype="application/json")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def service_error(status: int, message: str, exception: str = "JDERestServiceException") -> Response:
    """A ServiceErrorResponse as Oracle's schema defines it."""
    body = {
        "message": message,
        "exception": exception,
        "timeStamp": _now(),
        "status": "ERROR",
        "type": "ServiceErrorResponse",
        "userDefinedErrorText": "",
    }
    problem = _violation("ServiceErrorResponse", body)
    if problem:
        raise AssertionError(f"the simulator would send an undocumented error body: {problem}")
    return _json(body, status)


def form_error_response(state: JdeState, name: str, form: str, error: FormError) -> Response:
    body: dict[str, Any] = {
        "message": {
            "ServiceRequest1": {
                form: {
                    "title": form,
                    "errors": []
                    if error.custom
                    else [
                        {
                            "CODE": error.code,
                            "TITLE": error.title,
                            "ERRORCONTROL": error.control,
                            "DESC": f"CAUSE . . . . {error.title.removeprefix('Error: ')} ({error.control}).",
                            "MOBILE": error.title.removeprefix("Error: "),
                        }
                    ],
                    "warnings": [],
                }
            }
        },
        "exception": "Exception",
        "timeStamp": _now(),
        "status": "ERROR",
        "userDefinedErrorText": error.custom,
        "jde__status": "ERROR",
        "orchestration": name,
    }
    return _json(body, state.data_error_status)


# -- parsing helpers -----------------------------------------------------------------------------


def _date(dates: UserDates, text: Any, control: str) -> date:
    """A date input as the form reads it: in the user's format, else "Invalid Date"."""
    if not isinstance(text, str):
        raise FormError(*DATE_INVALID, control)
    try:
        return dates.parse(text)
    except ValueError:
        raise FormError(*DATE_INVALID, control) from None


def _amount(text: Any, control: str) -> Decimal:
    if isinstance(text, float):
        raise FormError(*AMOUNT_INVALID, control)  # the connector never sends floats
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise FormError(*AMOUNT_INVALID, control) from None
    if not value.is_finite():
        raise FormError(*AMOUNT_INVALID, control)
    return value


def _render(value: Any, dates: UserDates) -> Any:
    """A column value as the data service shows it: dates in the user's format, amounts as plain numbers."""
    if isinstance(value, date):
        return dates.format(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _text(inputs: dict[str, Any], name: str, length: int, *, required: bool = False) -> str:
    value = str(inputs.get(name) or "").strip()
    if required and not value:
        raise FormError(*REQUIRED, name)
    return value[:length]


# -- the app -------------------------------------------------------------------------------------


class JdeApp:
    def __init__(self, state: JdeState) -> None:
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        arrived = arrival(environ)
        request = Request(environ)
        response = self.dispatch(request)
        if self.state.latency_seconds:
            answer_after(self.state.latency_seconds, arrived)
        with self.state.lock:
            self.state._log.append(
                {"method": request.method, "path": request.path, "status": response.status_code, "at": time.time()}
            )
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        state = self.state
        if request.method != "POST":
            return service_error(405, "Method Not Allowed")
        path = request.path.rstrip("/")
        if path != LOGOUT_PATH:
            with state.lock:
                inject = state.fail_next_n > 0
                if inject:
                    state.fail_next_n -= 1
            if inject:
                state.count("injected_500")
                return service_error(500, "Unable to connect to the enterprise server", "ServerFailureException")
        if request.mimetype != "application/json":
            state.count("bad_content_type")
            return service_error(415, "Invalid Content-Type Header - Must use application/json")
        try:
            body = request.get_json(force=True, silent=False)
        except Exception:
            return service_error(400, "Bad Request - Invalid JSON Input")
        if not isinstance(body, dict):
            return service_error(400, "Bad Request - Invalid JSON Input")
        if path == TOKEN_PATH:
            return self.token_request(body)
        if path == LOGOUT_PATH:
            return self.logout(body)
        session = self.authenticate(request, body)
        if session is None:
            state.count("invalid_token")
            return service_error(444, "Invalid Token", "InvalidTokenException")
        dates = session["dates"]
        try:
            if path in DATA_SERVICE_PATHS:
                return self.data_service(body, dates)
            for prefix in ORCHESTRATOR_PREFIXES:
                if path.startswith(prefix):
                    return self.orchestration(path[len(prefix) :], body, dates)
        except BadRequest as exc:
            state.count("bad_request")
            return service_error(400, str(exc))
        return service_error(404, f"Not Found: {request.path}")

    # -- tokens ---------------------------------------------------------------------------------

    def token_request(self, body: dict[str, Any]) -> Response:
        state = self.state
        state.count("tokenrequest")
        undocumented = sorted(set(body) - _documented_fields("LoginRequest"))
        problem = _violation("LoginRequest", body) or (
            f"LoginRequest has no field {', '.join(undocumented)}" if undocumented else None
        )
        if problem:
            state.count("bad_request")
            return service_error(400, f"Bad Request - Invalid JSON Input ({problem})")
        username, password = body.get("username", ""), body.get("password", "")
        if body.get("environment", state.environment) != state.environment:
            return service_error(403, f"Environment {body.get('environment')} is not available on this server")
        if not username or not secrets.compare_digest(
            state.users.get(username, "\0no-such-user").encode(), password.encode()
        ):
            state.count("auth_failed")
            return service_error(403, "[AISCallFailed]: Authorization Failure", "AuthorizationException")
        token = secrets.token_hex(32)
        dates = state.dates_of(username)
        with state.lock:
            state._tokens[token] = {
                "user": username,
                "device": body.get("deviceName", ""),
                "dates": dates,
                "expires": time.monotonic() + state.token_lifetime_seconds,
            }
        return _json(self._token_response(body, username, token, dates))

    def _token_response(self, body: dict[str, Any], username: str, token: str, dates: UserDates) -> dict[str, Any]:
        """Oracle's example token response (``token-response-mde.json``) for this user and token."""
        response = copy.deepcopy(contract_json("jdedwards", "token-response-mde.json"))
        response.update(username=username, environment=self.state.environment, role=body.get("role", "*ALL"))
        response["userInfo"].update(
            token=token,
            dateFormat=dates.code,
            dateSeperator=dates.separator,
            simpleDateFormat=dates.pattern,
            alphaName=f"Integration user {username}",
        )
        response["aisSessionCookie"] = secrets.token_hex(16)
        problem = _violation("LoginResponse", response)
        if problem:
            raise AssertionError(f"the simulator would send an undocumented token response: {problem}")
        return response

    def logout(self, body: dict[str, Any]) -> Response:
        state = self.state
        state.count("logout")
        problem = _violation("LogoutRequest", body)
        if problem:
            return service_error(400, f"Bad Request - Invalid JSON Input ({problem})")
        with state.lock:
            known = state._tokens.pop(str(body.get("token") or ""), None)
        if known is None:
            return service_error(444, "Invalid Token", "InvalidTokenException")
        return Response(status=200)

    def authenticate(self, request: Request, body: dict[str, Any]) -> dict[str, Any] | None:
        """The token's session (user, device, date format) when it is known, unexpired and sent with its device."""
        token = request.headers.get("jde-AIS-Auth") or str(body.get("token") or "")
        device = request.headers.get("jde-AIS-Auth-Device") or str(body.get("deviceName") or "")
        with self.state.lock:
            entry = self.state._tokens.get(token)
            if entry is None or entry["expires"] <= time.monotonic() or entry["device"] != device:
                return None
            return dict(entry)

    # -- orchestrations -------------------------------------------------------------------------

    def orchestration(self, name: str, inputs: dict[str, Any], dates: UserDates) -> Response:
        state = self.state
        state.count(f"orchestration:{name}")
        handlers = {
            state.gl_orchestration: (self.add_gl_batch, "fs_P0911_W0911A"),
            state.gl_lookup_orchestration: (self.get_gl_batch, "fs_DATABROWSE_F0911"),
            state.customer_orchestration: (self.add_customer, "fs_P01012_W01012A"),
            state.customer_update_orchestration: (self.update_customer, "fs_P01012_W01012A"),
        }
        if name not in handlers:
            return service_error(404, f"Orchestration {name} not found")
        handler, form = handlers[name]
        started = time.perf_counter()
        try:
            with state.lock:
                result, commit_key = handler(inputs, dates)
        except FormError as error:
            state.count(f"form_error:{error.code or 'custom'}")
            return form_error_response(state, name, form, error)
        result = {
            **result,
            "jde__status": "SUCCESS",
            "jde__startTimestamp": _now(),
            "jde__endTimestamp": _now(),
            "jde__serverExecutionSeconds": round(time.perf_counter() - started, 3),
        }
        if commit_key and state.timeout_after_commit_first_attempt:
            with state.lock:
                first = commit_key not in state._timed_out
                state._timed_out.add(commit_key)
            if first:
                state.count("timeout_after_commit")
                if state.timeout_after_commit_mode == "500":
                    return service_error(500, "Read timed out waiting for the enterprise server", "TimeoutException")
                time.sleep(state.timeout_after_commit_seconds)
        return _json(result)

    def add_gl_batch(self, inputs: dict[str, Any], dates: UserDates) -> tuple[dict[str, Any], str]:
        state = self.state
        reference = _text(inputs, "BatchReference", 25, required=True)
        company = _text(inputs, "Company", 5, required=True)
        if company not in state.companies:
            raise FormError(*COMPANY_INVALID, "Company")
        existing = state._batches.get(reference)
        if existing is not None:
            raise FormError(
                "",
                "",
                custom=f"Batch reference {reference} already exists "
                f"(batch {existing['batch']}, document {existing['document']})",
            )
        gl_date = _date(dates, inputs.get("GLDate"), "GLDate")
        doc_type = _text(inputs, "DocumentType", 2) or "JE"
        ledger = _text(inputs, "LedgerType", 2) or "AA"
        currency = _text(inputs, "CurrencyCode", 3, required=True)
        mode = _text(inputs, "CurrencyMode", 1) or "D"
        rate = _amount(inputs.get("ExchangeRate", "1"), "ExchangeRate") if mode == "F" else Decimal("1")
        lines = inputs.get("GridData")
        if not isinstance(lines, list) or not lines:
            raise FormError(*REQUIRED, "GridData")
        rows = []
        total, foreign_total = Decimal("0"), Decimal("0")
        for number, line in enumerate(lines, start=1):
            if not isinstance(line, dict):
                raise BadRequest("GridData rows must be objects")
            account = str(line.get("Account") or "").strip()
            if account not in state.accounts:
                raise FormError(*ACCOUNT_INVALID, f"GridData[{number}].Account {account}")
            amount = _amount(line.get("Amount"), f"GridData[{number}].Amount")
            foreign = _amount(line.get("ForeignAmount"), f"GridData[{number}].ForeignAmount") if mode == "F" else amount
            total += amount
            foreign_total += foreign
            parts = account.split(".")
            rows.append(
                {
                    "JELN": int(line.get("LineNumber") or number),
                    "ANI": account,
                    "MCU": parts[0],
                    "OBJ": parts[1],
                    "SUB": parts[2] if len(parts) > 2 else "",
                    "AA": amount,
                    "ACR": foreign if mode == "F" else Decimal("0"),
                    "EXR": _text(line, "LineExplanation", 30),
                }
            )
        if total != 0 or foreign_total != 0:
            raise FormError(*OUT_OF_BALANCE, f"total {total}")
        batch, document = state._next("next_batch"), state._next("next_document")
        header = {
            "KCO": company,
            "DCT": doc_type,
            "DOC": document,
            "LT": ledger,
            "ICU": batch,
            "ICUT": _text(inputs, "BatchType", 2) or "G",
            "DGJ": gl_date,
            "CRCD": currency,
            "CRRM": mode,
            "CRR": rate,
            "EXA": _text(inputs, "Explanation", 30),
            "VR01": reference,
            "AN8": int(str(inputs.get("AddressNumber")).strip())
            if str(inputs.get("AddressNumber") or "").strip()
            else 0,
        }
        stored = [{**header, **row} for row in rows]
        state._f0911.extend(stored)
        state._batches[reference] = {
            "batch": batch,
            "document": document,
            "reference": reference,
            "reverses": _text(inputs, "ReversesReference", 25),
            "company": company,
            "document_type": doc_type,
            "gl_date": gl_date,
            "currency": currency,
            "explanation": header["EXA"],
            "lines": copy.deepcopy(stored),
        }
        return (
            {
                "BatchNumber": str(batch),
                "DocumentNumber": document,
                "DocumentType": doc_type,
                "Company": company,
                "ServiceRequest1": {"fs_P0911_W0911A": {"title": "Journal Entry", "errors": [], "warnings": []}},
            },
            f"gl:{reference}",
        )

    def get_gl_batch(self, inputs: dict[str, Any], _dates: UserDates) -> tuple[dict[str, Any], str]:
        reference = _text(inputs, "BatchReference", 25, required=True)
        batch = self.state._batches.get(reference)
        if batch is None:
            return {"BatchNumber": "", "DocumentNumber": ""}, ""
        return {"BatchNumber": str(batch["batch"]), "DocumentNumber": batch["document"]}, ""

    def _customer_fields(self, inputs: dict[str, Any]) -> dict[str, Any]:
        return {
            "ALPH": _text(inputs, "AlphaName", 40, required=True),
            "MLNM": _text(inputs, "MailingName", 40),
            "AT1": _text(inputs, "SearchType", 3) or "C",
            "ADD1": _text(inputs, "AddressLine1", 40),
            "ADD2": _text(inputs, "AddressLine2", 40),
            "CTY1": _text(inputs, "City", 25),
            "ADDS": _text(inputs, "State", 3),
            "ADDZ": _text(inputs, "PostalCode", 12),
            "CTR": _text(inputs, "Country", 3),
            "EMAL": _text(inputs, "Email", 256),
            "PH1": _text(inputs, "Phone", 20),
        }

    def add_customer(self, inputs: dict[str, Any], _dates: UserDates) -> tuple[dict[str, Any], str]:
        state = self.state
        alky = _text(inputs, "LongAddressNumber", 20)
        fields = self._customer_fields(inputs)
        if alky and state.unique_long_address_number:
            for row in state._f0101:
                if row.get("ALKY") == alky:
                    raise FormError(
                        "", "", custom=f"Long Address Number {alky} already exists (address number {row['AN8']})"
                    )
        an8 = state._next("next_address_number")
        state._f0101.append({"AN8": an8, "ALKY": alky, **fields})
        return {"AddressNumber": an8, "AlphaName": fields["ALPH"]}, f"ab:{alky or an8}"

    def update_customer(self, inputs: dict[str, Any], _dates: UserDates) -> tuple[dict[str, Any], str]:
        text = str(inputs.get("AddressNumber") or "").strip()
        rows = [r for r in self.state._f0101 if text.isdigit() and r["AN8"] == int(text)]
        if not rows:
            raise FormError(*ADDRESS_NUMBER_INVALID, "AddressNumber")
        fields = self._customer_fields(inputs)
        alky = _text(inputs, "LongAddressNumber", 20)
        rows[0].update(fields)
        if alky:
            rows[0]["ALKY"] = alky
        return {"AddressNumber": rows[0]["AN8"]}, ""

    # -- data service ---------------------------------------------------------------------------

    def data_service(self, body: dict[str, Any], dates: UserDates) -> Response:
        state = self.state
        table = str(body.get("targetName") or "")
        state.count(f"dataservice:{table}")
        problem = _violation("DataRequest", body)
        if problem:
            raise BadRequest(f"Bad Request - Invalid JSON Input ({problem})")
        kind = body["dataServiceType"]
        if table not in ("F0911", "F0101"):
            raise BadRequest(f"Table {table} is not available to the data service")
        if kind not in ("BROWSE", "COUNT"):
            raise BadRequest(f"dataServiceType {kind} is not supported")
        query = body.get("query") or {}
        conditions = query.get("condition") or []
        match_any = str(query.get("matchType") or "MATCH_ALL").upper() == "MATCH_ANY"
        try:
            page = int(str(body.get("maxPageSize") or "100"))
        except ValueError:
            raise BadRequest("maxPageSize must be a number") from None
        with state.lock:
            source = state._f0911 if table == "F0911" else state._f0101
            tests = [self._condition(table, c, dates) for c in conditions]
            matched = [
                row
                for row in source
                if not tests or (any if match_any else all)(test(row) for test in tests)  # type: ignore[operator]
            ]
            matched = copy.deepcopy(matched)
        order = F0911_ORDER if table == "F0911" else ("AN8",)
        matched.sort(key=lambda r: tuple(r.get(k, 0) for k in order))
        if kind == "COUNT":
            return _json({f"fs_DATABROWSE_{table}": {"data": {"totalCount": len(matched)}}})
        columns = [c.split(".", 1)[1] for c in str(body.get("returnControlIDs") or "").split("|") if "." in c]
        rowset = [
            {f"{table}_{column}": _render(row.get(column, ""), dates) for column in columns or sorted(row)}
            for row in matched[:page]
        ]
        # The shape of Oracle's example data request response (dataservice-f0101-response.json).
        return _json(
            {
                f"fs_DATABROWSE_{table}": {
                    "title": f"Data Browser - {table}",
                    "data": {
                        "gridData": {
                            "columns": {f"{table}_{c}": c for c in columns},
                            "rowset": rowset,
                            "summary": {"records": len(rowset), "moreRecords": len(matched) > page},
                        }
                    },
                }
            }
        )

    def _condition(self, table: str, spec: dict[str, Any], dates: UserDates) -> Any:
        control = str(spec.get("controlId") or "")
        prefix, _, column = control.partition(".")
        if prefix != table or not column:
            raise BadRequest(f"controlId {control!r} does not name a column of {table}")
        operator = str(spec.get("operator") or "EQUAL").upper()
        if operator not in OPERATORS:
            raise BadRequest(f"operator {operator} is not supported")
        literals = [str(v.get("content", "")) for v in spec.get("value") or [] if isinstance(v, dict)]
        needed = {"BETWEEN": 2}.get(operator, 1)
        if len(literals) < needed and operator != "LIST":
            raise BadRequest(f"operator {operator} on {control} needs {needed} value(s)")

        def convert(sample: Any, text: str) -> Any:
            if isinstance(sample, date):
                try:
                    return dates.parse(text)
                except ValueError:
                    raise BadRequest(f"{text!r} is not a date for {control}") from None
            if isinstance(sample, (int, Decimal)) and not isinstance(sample, bool):
                try:
                    return Decimal(text.strip())
                except InvalidOperation:
                    raise BadRequest(f"{text!r} is not a number for {control}") from None
            return text.strip()

        def test(row: dict[str, Any]) -> bool:
            if column not in row:
                return False
            value = row[column]
            left = Decimal(value) if isinstance(value, int) and not isinstance(value, bool) else value
            if isinstance(left, str):
                left = left.strip()
            values = [convert(value, t) for t in literals]
            match operator:
                case "EQUAL":
                    return left == values[0]
                case "NOT_EQUAL":
                    return left != values[0]
                case "GREATER":
                    return left > values[0]
                case "GREATER_EQUAL":
                    return left >= values[0]
                case "LESS":
                    return left < values[0]
                case "LESS_EQUAL":
                    return left <= values[0]
                case "BETWEEN":
                    return values[0] <= left <= values[1]
                case "LIST":
                    return left in values
                case "STR_START_WITH":
                    return str(left).startswith(str(values[0]))
                case "STR_CONTAIN":
                    return str(values[0]) in str(left)
            return False

        return test


def create_app(state: JdeState) -> JdeApp:
    """The WSGI app simulating one AIS server over ``state``."""
    return JdeApp(state)
