"""Declared operations: the fal HTTP call a manifest action makes, as data.

A manifest ``operation`` says where the call goes (method, host, path template), which input
fields go to the path, the query, the headers and the body, how the answer becomes the
output (a field map, pagination, an optional named transform), and which fal error answers
are the action's own outcomes. ``compile_operation`` checks all of that against the action's
schemas when the manifest is loaded (an error names the action and the key); ``Operation``
then builds the request, sends it through the action context and maps the answer, so an
action whose operation has a ``response`` block needs no Python (``perform``).

Python handlers that are more than one request (submit, follow, subscribe, run_model) build
their URLs and map their errors with the same objects, so the manifest stays the one
description of every request the connector sends.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from connector.errors import FAILURE_TYPES, ActionError, HTTPStatusError, InvalidInputError
from connector.fal.app_id import check_request_id, parse_app_id
from connector.operation_transforms import TRANSFORMS
from connector.record import Frozen
from connector.schema_walk import deref
from connector.validation import json_type

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_APP_PATH = "{owner}/{app}"  # written together: the [namespace/]owner/app part of input app_id
_TEMPLATE_FIELDS = ("status", "detail", "message", "app_path")


class OperationError(ValueError):
    """A declared operation that does not fit its action; the message names the key."""


class Value(Frozen):
    """Where one query parameter or header gets its value: an input field or a constant."""

    __slots__ = _fields = ("name", "field", "constant", "format", "style")
    name: str
    field: str | None
    constant: Any
    format: str
    style: str

    def __init__(self, name: str, field: str | None = None, constant: Any = None, format: str = "string", style: str = "repeated") -> None:
        self._set(name=name, field=field, constant=constant, format=format, style=style)

    def pairs(self, inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
        """``(name, text)`` pairs to send; none when the field was not given (or a false flag)."""
        if self.field is None:
            return [(self.name, _text(self.constant, self.format))]
        value = inputs.get(self.field)
        if value is None or (self.format == "flag" and value is not True):
            return []
        if isinstance(value, list) and self.format != "json":
            texts = [_text(item, self.format) for item in value]
            return [(self.name, ",".join(texts))] if self.style == "comma" else [(self.name, t) for t in texts]
        return [(self.name, _text(value, self.format))]


def _text(value: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if fmt in ("flag", "binary"):
        return "1" if value is True else "0"
    if fmt == "int":
        return str(int(value))
    if fmt == "float":
        return str(float(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Outcome(Frozen):
    """A fal error answer that is one of the action's own results (cancel's 400 -> already_completed)."""

    __slots__ = _fields = ("low", "high", "excluded", "match", "failure", "message", "partial")
    low: int
    high: int
    excluded: tuple[int, ...]
    match: re.Pattern[str] | None
    failure: str | None  # its verdict (retryable or not) is connector.http.retry's
    message: str | None
    partial: tuple[tuple[str, Any], ...]

    def __init__(self, low: int, high: int, excluded: tuple[int, ...] = (), match: re.Pattern[str] | None = None, failure: str | None = None,
                 message: str | None = None, partial: tuple[tuple[str, Any], ...] = ()) -> None:
        self._set(low=low, high=high, excluded=excluded, match=match, failure=failure, message=message, partial=partial)

    def applies(self, exc: HTTPStatusError) -> bool:
        code = exc.status_code or 0
        if not self.low <= code <= self.high or code in self.excluded:
            return False
        return self.match is None or bool(self.match.search(str(exc.detail)))

    def error(self, exc: HTTPStatusError, inputs: Mapping[str, Any], retryable: bool) -> HTTPStatusError:
        fields = _Blank({**{k: v for k, v in inputs.items() if isinstance(v, (str, int, float))}, "status": exc.status_code,
                         "detail": exc.detail, "message": exc.message, "app_path": _app_path(inputs)})
        return exc.derive(type=self.failure or exc.type, message=self.message.format_map(fields) if self.message else exc.message,
                          retryable=retryable, partial={**exc.partial, **dict(self.partial)})


class _Blank(dict[str, Any]):
    """Template fields; an optional input that was not given reads as empty, never a KeyError."""

    def __missing__(self, key: str) -> str:
        return ""


class Reply(Frozen):
    """What a transform may read besides the body: the call's inputs and fal's HTTP status."""

    __slots__ = _fields = ("inputs", "status_code")
    inputs: Mapping[str, Any]
    status_code: int

    def __init__(self, inputs: Mapping[str, Any], status_code: int) -> None:
        self._set(inputs=inputs, status_code=status_code)


class ResponseMap(Frozen):
    """How a success answer becomes the action's output fields."""

    __slots__ = _fields = ("what", "body", "allow_empty", "require", "output", "transform")
    what: str
    body: str
    allow_empty: bool
    require: tuple[tuple[str, str | None], ...]
    output: tuple[tuple[str, tuple[str, ...]], ...]
    transform: str | None

    def __init__(self, what: str, body: str = "object", allow_empty: bool = False, require: tuple[tuple[str, str | None], ...] = (),
                 output: tuple[tuple[str, tuple[str, ...]], ...] = (), transform: str | None = None) -> None:
        self._set(what=what, body=body, allow_empty=allow_empty, require=require, output=output, transform=transform)


class Operation(Frozen):
    """One declared fal call. Frozen and shared by every call of the action."""

    __slots__ = _fields = ("action_id", "method", "host", "path", "auth", "retry", "query", "headers", "idempotency_key", "body_field",
                           "body_fields", "response", "outcomes", "uses", "parts")
    action_id: str
    method: str
    host: str
    path: str
    auth: str
    retry: str | None
    query: tuple[Value, ...]
    headers: tuple[Value, ...]
    idempotency_key: bool
    body_field: str | None
    body_fields: tuple[str, ...]
    response: ResponseMap | None
    outcomes: tuple[Outcome, ...]
    uses: tuple[str, ...]
    parts: tuple[tuple[str, Operation], ...]

    def __init__(self, action_id: str, method: str, host: str, path: str, auth: str = "key", retry: str | None = None,
                 query: tuple[Value, ...] = (), headers: tuple[Value, ...] = (), idempotency_key: bool = False, body_field: str | None = None,
                 body_fields: tuple[str, ...] = (), response: ResponseMap | None = None, outcomes: tuple[Outcome, ...] = (),
                 uses: tuple[str, ...] = (), parts: tuple[tuple[str, Operation], ...] = ()) -> None:
        self._set(action_id=action_id, method=method, host=host, path=path, auth=auth, retry=retry, query=query, headers=headers,
                  idempotency_key=idempotency_key, body_field=body_field, body_fields=body_fields, response=response, outcomes=outcomes,
                  uses=uses, parts=parts)

    def part(self, name: str) -> Operation:
        """A further request of the same action, declared under ``parts`` (upload_file's CDN token)."""
        for key, operation in self.parts:
            if key == name:
                return operation
        raise KeyError(f"{self.action_id} declares no operation part {name!r}")

    # -- the request ---------------------------------------------------------------------

    def path_for(self, inputs: Mapping[str, Any]) -> str:
        """The path template filled from ``inputs``; bad ids fail as ``invalid_input`` naming the field."""
        path = self.path
        if "{app_id}" in path or _APP_PATH in path:
            app = parse_app_id(inputs.get("app_id"))
            path = path.replace(_APP_PATH, app.app_path).replace("{app_id}", app.endpoint)
        return _PLACEHOLDER.sub(lambda m: _segment(m.group(1), inputs.get(m.group(1))), path)

    def url(self, ctx: Any, inputs: Mapping[str, Any]) -> str:
        """The full URL: the configured base URL of ``host`` plus the filled path."""
        return str(ctx.url(self.host, self.path_for(inputs)))

    def params(self, inputs: Mapping[str, Any]) -> list[tuple[str, str]] | None:
        pairs = [pair for value in self.query for pair in value.pairs(inputs)]
        return pairs or None

    def header_values(self, inputs: Mapping[str, Any]) -> dict[str, str]:
        return dict(pair for value in self.headers for pair in value.pairs(inputs))

    def json_body(self, inputs: Mapping[str, Any]) -> Any:
        if self.body_field is not None:
            return inputs[self.body_field]
        if self.body_fields:
            return {name: inputs[name] for name in self.body_fields if name in inputs}
        return None

    def send(self, ctx: Any, inputs: Mapping[str, Any], *, headers: Mapping[str, str] | None = None, base_url: str | None = None,
             **options: Any) -> Any:
        """Send the declared request through ``ctx.request`` (its retries, deadline and hooks);
        a 2xx response, or the ``ActionError`` the answer means for this action. ``base_url``
        replaces the host's configured one (a base fal's answer gave); ``options`` go to
        ``ctx.request`` (``json``/``data`` replace the declared body)."""
        # Bad ids fail here, before the key check and any HTTP.
        url = base_url.rstrip("/") + self.path_for(inputs) if base_url else self.url(ctx, inputs)
        if self.auth == "key":
            ctx.require_key()
        sent = self.header_values(inputs)
        if self.idempotency_key:
            import uuid  # here: it imports `platform`, a noticeable part of a status call's start-up

            # A new key per request; its retries (inside ctx.request) all carry this one.
            sent["Idempotency-Key"] = str(uuid.uuid4())
        sent.update(headers or {})
        if self.retry is not None:
            options.setdefault("retry_class", self.retry)
        if "json" not in options and "data" not in options:
            options["json"] = self.json_body(inputs)
        try:
            return ctx.request(self.method, url, params=self.params(inputs), headers=sent or None, auth=self.auth != "none", **options)
        except HTTPStatusError as exc:
            mapped = self.outcome(exc, inputs, ctx)
            if mapped is exc:
                raise
            raise mapped from exc

    def outcome(self, exc: HTTPStatusError, inputs: Mapping[str, Any], ctx: Any) -> HTTPStatusError:
        """The error a fal error answer means for this action (the first declared outcome that
        applies); whether it is retryable, the context asks the retry table."""
        for outcome in self.outcomes:
            if outcome.applies(exc):
                return outcome.error(exc, inputs, ctx.outcome_retryable(outcome.failure, exc.retryable))
        return exc

    # -- the answer ----------------------------------------------------------------------

    def read(self, ctx: Any, response: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The output fields of a success answer, as the ``response`` block maps them."""
        spec = self.response
        if spec is None:
            raise ActionError("http_error", f"{self.action_id}: the operation declares no response mapping")
        body: Any = {} if spec.allow_empty and not response.content else ctx.json(response, spec.what)
        if spec.body == "object" or spec.require:
            body = ctx.require_fields(body, spec.what, *(name for name, _ in spec.require))
        for name, kind in spec.require:
            if kind is not None and json_type(body[name]) not in _TYPES_OF[kind]:
                raise ctx.unusable(spec.what, f"fal's answer has {name!r} of type {json_type(body[name])}, expected {kind}", body)
        output = {name: _first(sources, body, inputs) for name, sources in spec.output}
        if spec.transform is not None:
            output = TRANSFORMS[spec.transform](output, body, Reply(inputs, response.status_code))
        return output


def perform(operation: Operation, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The generic handler: send the declared request and map its answer to the output."""
    return operation.read(ctx, operation.send(ctx, inputs), inputs)


class DeclaredHandler:
    """An action handler that performs one declared operation (what a YAML-only action runs).
    Given a function instead, it asks for the operation when it is first needed (the manifest
    compiles an operation then)."""

    def __init__(self, operation: Operation | Callable[[], Operation]) -> None:
        self._operation = operation

    @property
    def operation(self) -> Operation:
        if not isinstance(self._operation, Operation):
            self._operation = self._operation()
        return self._operation

    def __call__(self, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return perform(self.operation, inputs, ctx)

    def __repr__(self) -> str:
        return f"<declared {self.operation.method} {self.operation.host}{self.operation.path} of {self.operation.action_id}>"


def _segment(name: str, value: Any) -> str:
    if name == "request_id":
        return check_request_id(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value in ("", ".", ".."):
        raise InvalidInputError(name, f"expected a non-empty string for the URL path, got {value!r}"[:200])
    return quote(str(value), safe="")  # one segment: a '/' or '?' in it cannot change the path


def _app_path(inputs: Mapping[str, Any]) -> str | None:
    try:
        return parse_app_id(inputs["app_id"]).app_path if "app_id" in inputs else None
    except InvalidInputError:
        return None


def _first(sources: tuple[str, ...], body: Any, inputs: Mapping[str, Any]) -> Any:
    for source in sources:
        root, _, rest = source.partition(".")
        node: Any = body if root == "body" else inputs
        for key in rest.split(".") if rest else ():
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


_TYPES_OF = {"array": ("array",), "object": ("object",), "string": ("string",), "number": ("number", "integer"),
             "integer": ("integer",), "boolean": ("boolean",)}


# -- compiling a manifest entry (load time) --------------------------------------------------


def compile_operation(entry: Mapping[str, Any], input_schema: Mapping[str, Any], output_schema: Mapping[str, Any],
                      action_ids: frozenset[str] = frozenset()) -> Operation:
    """The ``Operation`` of one manifest entry, checked against the action's schemas.

    The shape was checked by manifest.schema.json already; this checks meaning: every input
    field named exists, placeholders are required, output keys exist, transforms and failure
    types are known. Raises ``OperationError`` naming the key (``operation.query.limit``)."""
    return _compile(entry["operation"], "operation", str(entry["id"]), input_schema, output_schema, action_ids)


def _compile(raw: Mapping[str, Any], at: str, action_id: str, input_schema: Mapping[str, Any], output_schema: Mapping[str, Any],
             action_ids: frozenset[str]) -> Operation:
    inputs = input_schema.get("properties", {})
    required = set(input_schema.get("required", ()))
    outputs = output_schema.get("properties", {})

    def need_input(key: str, name: str, *, must: bool = False) -> str:
        if name not in inputs:
            raise OperationError(f"{key}: input field {name!r} does not exist (input fields: {', '.join(inputs) or 'none'})")
        if must and name not in required:
            raise OperationError(f"{key}: input field {name!r} fills the path, so the input schema must require it")
        return name

    path = raw["path"]
    rest = path.replace(_APP_PATH, "")
    if "{app_id}" in path or _APP_PATH in path:
        need_input(f"{at}.path", "app_id", must=True)
        rest = rest.replace("{app_id}", "")
    for name in _PLACEHOLDER.findall(rest):
        need_input(f"{at}.path", name, must=True)
    if re.search(r"[{}]", _PLACEHOLDER.sub("", rest)):
        raise OperationError(f"{at}.path: {path!r} has a brace that is not a {{name}} placeholder")

    def values(section: str) -> tuple[Value, ...]:
        out = []
        for name, source in (raw.get(section) or {}).items():
            key = f"{at}.{section}.{name}"
            spec = {"field": source} if isinstance(source, str) else dict(source)
            if ("field" in spec) == ("value" in spec):
                raise OperationError(f"{key}: give exactly one of 'field' (an input field) or 'value' (a constant)")
            field = spec.get("field")
            if field is not None:
                need_input(key, field)
            if "style" in spec and (field is None or not _may_be_array(inputs[field], input_schema)):
                raise OperationError(f"{key}: 'style' applies only to an input field that can be a list")
            out.append(Value(name, field, spec.get("value"), spec.get("format", "string"), spec.get("style", "repeated")))
        return tuple(out)

    body = raw.get("body")
    body_field: str | None = None
    body_fields: tuple[str, ...] = ()
    if isinstance(body, str):
        body_field = need_input(f"{at}.body", body)
    elif isinstance(body, dict):
        if "field" in body:
            body_field = need_input(f"{at}.body.field", body["field"])
        body_fields = tuple(need_input(f"{at}.body.fields", name) for name in body.get("fields", ()))

    response = None
    if "response" in raw and raw["host"] == "local":
        raise OperationError(f"{at}.response: host local sends no request, so there is no answer to map")
    if "response" in raw:
        response = _compile_response(raw["response"], f"{at}.response", action_id, inputs, outputs, raw.get("query") or {})

    outcomes = tuple(_compile_outcome(item, f"{at}.outcomes.{i}", inputs, outputs) for i, item in enumerate(raw.get("outcomes") or ()))
    for name in raw.get("uses", ()):
        if action_ids and name not in action_ids:
            raise OperationError(f"{at}.uses: {name!r} is not an action of this manifest")
    parts = []
    for name, part in (raw.get("parts") or {}).items():
        nested = next((key for key in ("parts", "uses") if key in part), None)
        if nested is not None:
            raise OperationError(f"{at}.parts.{name}.{nested}: a part is one request; only the action's operation has {nested}")
        parts.append((name, _compile(part, f"{at}.parts.{name}", action_id, input_schema, output_schema, action_ids)))
    return Operation(
        action_id=action_id, method=raw["method"], host=raw["host"], path=path, auth=raw.get("auth", "key"), retry=raw.get("retry"),
        query=values("query"), headers=values("headers"), idempotency_key=bool(raw.get("idempotency_key", False)),
        body_field=body_field, body_fields=body_fields, response=response, outcomes=outcomes, uses=tuple(raw.get("uses", ())),
        parts=tuple(parts),
    )


def _compile_response(raw: Mapping[str, Any], at: str, action_id: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any],
                      query: Mapping[str, Any]) -> ResponseMap:
    def need_output(key: str, name: str) -> None:
        if name not in outputs:
            raise OperationError(f"{key}: {name!r} is not a field of the output schema (fields: {', '.join(outputs)})")

    def sources(key: str, source: Any) -> tuple[str, ...]:
        found = (source,) if isinstance(source, str) else tuple(source)
        for item in found:
            root, _, rest = item.partition(".")
            if root == "input" and rest not in inputs:
                raise OperationError(f"{key}: {item!r} names no input field (input fields: {', '.join(inputs) or 'none'})")
        return found

    output = []
    for name, source in (raw.get("output") or {}).items():
        need_output(f"{at}.output.{name}", name)
        output.append((name, sources(f"{at}.output.{name}", source)))
    paging = raw.get("pagination")
    if paging is not None:
        if paging["cursor"] not in query:
            raise OperationError(f"{at}.pagination.cursor: {paging['cursor']!r} is not a query parameter of this operation")
        for name in ("next_cursor", "has_more"):
            need_output(f"{at}.pagination.{name}", name)
            output.append((name, sources(f"{at}.pagination.{name}", paging[name])))
    transform = raw.get("transform")
    if transform is not None and transform not in TRANSFORMS:
        raise OperationError(f"{at}.transform: {transform!r} is not a registered transform (known: {', '.join(sorted(TRANSFORMS))})")
    require = raw.get("require") or ()
    pairs = tuple(require.items()) if isinstance(require, dict) else tuple((name, None) for name in require)
    return ResponseMap(what=raw.get("what", action_id), body=raw.get("body", "object"), allow_empty=bool(raw.get("allow_empty", False)),
                       require=pairs, output=tuple(output), transform=transform)


def _compile_outcome(raw: Mapping[str, Any], key: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> Outcome:
    status = str(raw["status"])
    low, high = (int(status[0]) * 100, int(status[0]) * 100 + 99) if status.endswith("xx") else (int(status), int(status))
    failure = raw.get("failure")
    if failure is not None and failure not in FAILURE_TYPES:
        raise OperationError(f"{key}.failure: {failure!r} is not a failure type (known: {', '.join(sorted(FAILURE_TYPES))})")
    match = None
    if "match" in raw:
        try:
            match = re.compile(raw["match"], re.IGNORECASE)
        except re.error as exc:
            raise OperationError(f"{key}.match: not a valid regular expression: {exc}") from None
    message = raw.get("message")
    if message is not None:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(message) if name is not None]
        except ValueError as exc:
            raise OperationError(f"{key}.message: not a valid template: {exc}") from None
        for name in names:
            if name not in _TEMPLATE_FIELDS and name not in inputs:
                raise OperationError(f"{key}.message: {{{name}}} is neither an input field nor one of {', '.join(_TEMPLATE_FIELDS)}")
    partial = raw.get("partial") or {}
    for name in partial:
        if name not in outputs:
            raise OperationError(f"{key}.partial: {name!r} is not a field of the output schema")
    return Outcome(low, high, tuple(raw.get("except", ())), match, failure, message, tuple(partial.items()))


_MAX_BRANCH_DEPTH = 32  # oneOf/anyOf nesting looked into: ends a schema whose branches refer back to it


def _may_be_array(schema: Any, root: Mapping[str, Any], depth: int = 0) -> bool:
    schema = deref(schema, root)  # the one follower of references (definitions, pointers, cycles)
    if not isinstance(schema, dict) or depth > _MAX_BRANCH_DEPTH:
        return False
    kind = schema.get("type")
    if kind == "array" or (isinstance(kind, list) and "array" in kind):
        return True
    return any(_may_be_array(branch, root, depth + 1) for key in ("oneOf", "anyOf") for branch in schema.get(key, ()))
