"""Python types to JSON Schema through msgspec, so that one type gives both schema and decoder.

    function_schema(fn)        signature + docstring -> argument Struct -> parameters + decoder
    schema_for_type(tp)        any type msgspec can describe -> self-contained JSON Schema
    to_strict_schema(schema)   a schema rewritten to OpenAI's Structured Outputs subset

A function's parameters become the fields of a `msgspec.defstruct` (`forbid_unknown_fields`,
`kw_only`); the JSON Schema `_jsonschema` writes for that Struct is what the model sees, and a
`msgspec.json.Decoder` of the same Struct checks what the model sends. A parameter with a
default is typed `T | UnsetType`, so an argument the model left out stays out of the call and the
function's own default applies, exactly as in a direct call.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
import warnings
from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_args, get_origin

import msgspec

from ._arguments import arguments_error
from ._docstrings import Docstring, DocstringWarning, parse_docstring
from ._exceptions import SchemaError, ToolDefinitionError
from ._jsonschema import json_schema
from ._pydantic import decode_hook
from ._strict import to_strict_schema

__all__ = ["FunctionSchema", "function_schema", "schema_for_type"]

_Empty = inspect.Parameter.empty
# Every Meta option but `description`, which _split_description lifts out of an annotation.
_META_OPTIONS = (
    *("gt", "ge", "lt", "le", "multiple_of", "pattern", "min_length", "max_length", "tz"),
    *("title", "examples", "extra_json_schema", "extra"),
)
# `self`/`cls` mean an unbound method was decorated; msgspec cannot hold some `__` names.
_RESERVED = frozenset({"self", "cls"})


@dataclasses.dataclass(frozen=True, eq=False)
class FunctionSchema:
    """What a function's signature and docstring become, built once per tool.

    Attributes:
        name: the function's own name.
        description: the docstring's summary.
        parameters: the JSON Schema (an object) of the arguments.
        strict: whether `parameters` was rewritten to the strict subset.
        struct: the msgspec Struct the arguments decode into.
        context_params: the parameters to inject a context into, each mapped to whether it is
            required (has no default).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool
    struct: type[msgspec.Struct]
    context_params: Mapping[str, bool]
    _decoder: msgspec.json.Decoder[Any] = dataclasses.field(repr=False)
    _null_defaults: frozenset[str] = dataclasses.field(repr=False)

    def decode(self, arguments: str | bytes, *, tool: str) -> dict[str, Any]:
        """Check a model's JSON arguments; return the keyword arguments to call with.

        Empty text counts as `{}` (some providers send it for tools without parameters). Raises
        `ToolArgumentsError` with a message written for the model.
        """
        if not arguments.strip():
            arguments = b"{}"
        try:
            decoded = self._decoder.decode(arguments)
        except (msgspec.MsgspecError, RecursionError, UnicodeEncodeError) as exc:
            # msgspec bounds nesting with RecursionError, and cannot encode a lone surrogate
            raise arguments_error(exc, arguments, schema=self.parameters, tool=tool) from exc
        kwargs = msgspec.structs.asdict(decoded)
        return {
            name: value
            for name, value in kwargs.items()
            if value is not msgspec.UNSET and not (value is None and name in self._null_defaults)
        }


def function_schema(
    fn: Callable[..., Any], *, strict: bool = False, context_type: type | None = None
) -> FunctionSchema:
    """Build the argument Struct, schema and decoder of a function, bound method or partial.

    Parameters annotated with `context_type` are left out (the caller injects them); keywords a
    `functools.partial` binds are left out too. Raises `ToolDefinitionError` naming the function
    and the parameter for a signature that cannot become a tool, and warns (`DocstringWarning`)
    about docstring text it cannot use.
    """
    target, bound = _unwrap(fn)
    label = getattr(target, "__qualname__", None) or repr(target)
    params = _parameters(fn, label, bound)
    hints = _type_hints(target, label)
    doc = parse_docstring(inspect.getdoc(target))
    # Parameters a partial binds are still the function's: documenting them is no mistake.
    _warn_about_docstring(target, label, doc, set(inspect.signature(target).parameters))
    context = {
        p.name: p.default is _Empty for p in params if _is_context(hints.get(p.name), context_type)
    }
    params = [p for p in params if p.name not in context]
    fields = [_field(p, hints.get(p.name, Any), doc.params.get(p.name), strict) for p in params]
    struct, decoder, schema = _build(label, fields)
    _add_defaults(schema, {p.name: p.default for p in params if p.default is not _Empty})
    return FunctionSchema(
        name=getattr(target, "__name__", None) or type(target).__name__,
        description=doc.summary,
        parameters=_strict_arguments(schema, label) if strict else schema,
        strict=strict,
        struct=struct,
        context_params=types.MappingProxyType(context),
        _decoder=decoder,
        _null_defaults=frozenset(p.name for p in params if strict and p.default is not _Empty),
    )


def schema_for_type(tp: Any, *, strict: bool) -> dict[str, Any]:
    """The JSON Schema of any type msgspec can describe, self-contained (`$defs` inside it).

    With `strict=True` the schema is rewritten by `to_strict_schema`; OpenAI also wants an object
    at the root, which this does not enforce. Raises `SchemaError` for a type msgspec cannot
    describe, or that strict mode cannot express.
    """
    try:
        schema = json_schema(tp)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"msgspec cannot describe {tp!r}: {_reason(exc)}") from exc
    return to_strict_schema(schema) if strict else schema


# --------------------------------------------------------------------------- signature


def _unwrap(fn: Any) -> tuple[Any, frozenset[str]]:
    """The callable that holds the annotations and docstring, and the keywords partials bind."""
    bound: set[str] = set()
    while isinstance(fn, functools.partial):
        bound.update(fn.keywords)
        fn = fn.func
    if not inspect.isroutine(fn):
        fn = fn.__call__  # an instance with a __call__ method
    return fn, frozenset(bound)


def _parameters(fn: Callable[..., Any], label: str, bound: frozenset[str]) -> list[Any]:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ToolDefinitionError(f"{label}: its signature cannot be read ({exc})") from exc
    params = [p for p in signature.parameters.values() if p.name not in bound]
    for param in params:
        _check_parameter(param, label)
    return params


def _check_parameter(param: inspect.Parameter, label: str) -> None:
    where = f"{label}: parameter `{param.name}`"
    if param.kind is param.VAR_POSITIONAL:
        problem = f"`*{param.name}` cannot be described: a model passes every argument by name"
        raise ToolDefinitionError(f"{label}: {problem}; declare each parameter instead")
    if param.kind is param.VAR_KEYWORD:
        problem = f"`**{param.name}` cannot be described: the schema must name every argument"
        raise ToolDefinitionError(f"{label}: {problem}; declare each parameter instead")
    if param.kind is param.POSITIONAL_ONLY:
        raise ToolDefinitionError(
            f"{where} is positional-only, but a model passes arguments by name"
        )
    if param.name in _RESERVED:
        raise ToolDefinitionError(
            f"{where} is reserved: a method must be made a tool once bound, `tool(obj.method)`"
        )
    if param.name.startswith("__"):
        raise ToolDefinitionError(f"{where} is reserved: names starting with `__` cannot be used")


def _type_hints(target: Any, label: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(target, include_extras=True)
    except (NameError, TypeError, SyntaxError) as exc:
        raise ToolDefinitionError(f"{label}: its annotations cannot be resolved ({exc})") from exc


def _is_context(hint: Any, context_type: type | None) -> bool:
    if context_type is None or hint is None:
        return False
    if get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    members = get_args(hint) if get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    classes = [get_origin(member) or member for member in members]
    return any(isinstance(cls, type) and issubclass(cls, context_type) for cls in classes)


def _warn_about_docstring(target: Any, label: str, doc: Docstring, names: set[str]) -> None:
    problems = [f"{label}: docstring: {problem}" for problem in doc.problems]
    problems += [
        f"{label}: docstring documents parameter `{name}`, which is not in the signature"
        for name in doc.params
        if name not in names
    ]
    code = getattr(target, "__code__", None)
    for problem in problems:
        if code is None:  # pragma: no cover - every parsed docstring here belongs to Python code
            warnings.warn(problem, DocstringWarning, stacklevel=4)
            continue
        # Point at the function's definition, whatever the depth of the decorator's call stack.
        module = getattr(target, "__module__", None) or "asynctool"
        warnings.warn_explicit(
            problem, DocstringWarning, code.co_filename, code.co_firstlineno, module
        )


# --------------------------------------------------------------------------- struct and schema


def _field(
    param: inspect.Parameter, hint: Any, doc_text: str | None, strict: bool
) -> tuple[Any, ...]:
    """One `defstruct` field. An `Annotated` description wins over the docstring's."""
    base, description = _split_description(hint)
    description = description or doc_text
    if param.default is _Empty:
        return (param.name, _described(base, description))
    if strict:  # strict mode lists every property as required: null stands for the default
        base = typing.Optional[base]  # noqa: UP045 - `|` is not defined on every typing form
    return (
        param.name,
        typing.Union[_described(base, description), msgspec.UnsetType],  # noqa: UP007
        msgspec.UNSET,
    )


def _split_description(hint: Any) -> tuple[Any, str | None]:
    """Lift the description out of `Annotated` metadata, so that it can go on the outside."""
    if get_origin(hint) is not Annotated:
        return hint, None
    base, *metadata = get_args(hint)
    description = None
    kept = []
    for item in metadata:
        if isinstance(item, msgspec.Meta) and item.description is not None:
            description = item.description
            options = {k: getattr(item, k) for k in _META_OPTIONS if getattr(item, k) is not None}
            if not options:
                continue
            item = msgspec.Meta(**options)
        kept.append(item)
    return (Annotated[(base, *kept)] if kept else base), description


def _described(tp: Any, description: str | None) -> Any:
    return Annotated[tp, msgspec.Meta(description=description)] if description else tp


def _build(
    label: str, fields: list[tuple[Any, ...]]
) -> tuple[type[msgspec.Struct], msgspec.json.Decoder[Any], dict[str, Any]]:
    # The Struct's schema is written inline, so its name never meets a user type's in `$defs`.
    struct = msgspec.defstruct(
        f"{label.rpartition('.')[2]}_arguments",
        fields,
        kw_only=True,
        forbid_unknown_fields=True,
        module=__name__,
    )
    try:
        schema = json_schema(struct)
        decoder = msgspec.json.Decoder(struct, dec_hook=decode_hook)
    except (TypeError, ValueError) as exc:
        raise _unsupported(label, fields, exc) from exc
    schema.pop("title", None)
    return struct, decoder, schema


def _unsupported(label: str, fields: list[tuple[Any, ...]], exc: Exception) -> ToolDefinitionError:
    """Name the parameter whose type msgspec cannot describe."""
    for name, tp, *_ in fields:
        try:
            json_schema(tp)
            msgspec.json.Decoder(tp)
        except (TypeError, ValueError) as field_exc:
            reason = _reason(field_exc)
            return ToolDefinitionError(
                f"{label}: parameter `{name}`: its type cannot be described as JSON ({reason})"
            )
    return ToolDefinitionError(f"{label}: its parameters cannot be described ({_reason(exc)})")


def _add_defaults(schema: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Show the function's defaults, those that have a JSON form, in the schema."""
    for name, default in defaults.items():
        try:
            schema["properties"][name]["default"] = msgspec.to_builtins(default)
        except (TypeError, ValueError):
            continue


def _strict_arguments(schema: dict[str, Any], label: str) -> dict[str, Any]:
    try:
        return to_strict_schema(schema)
    except SchemaError as exc:
        param = exc.path.split(".", 1)[0].split("[", 1)[0]
        at = f" (at `{exc.path}`)" if exc.path != param else ""
        raise ToolDefinitionError(
            f"{label}: parameter `{param}` cannot be used with strict=True{at}: {exc.reason}"
        ) from exc


def _reason(exc: BaseException) -> str:
    """msgspec's explanation, or ours (`_jsonschema`'s) for a type with no JSON form."""
    return str(exc).strip() or type(exc).__name__
