"""A type's JSON Schema: msgspec's model of the type, asynctool's rules for what the model is told.

msgspec decides what a type accepts: `msgspec.inspect` describes a type as msgspec's decoder sees
it, and the decoder enforces exactly that. What the schema says is decided here rather than by
`msgspec.json.schema`, because its output changes between the releases `pyproject.toml` allows,
and a model must not be told different things depending on which msgspec pip picked (measured
on 0.18.6 to 0.23.0): 0.21 adds `uniqueItems` to sets (msgspec#984); 0.22 moves `null` to the end
of an optional union (msgspec#1028); 0.23 names two types that share a name
`module.Qualname`/`module.Qualname_2` where older releases raise `KeyError`, shows a dataclass
field's `default_factory` default and dedents docstrings another way.

The rules, each written once below:

- formats: `datetime` is a `date-time`, `time` a `time` (both with an offset, so that what the
  schema admits also decodes; the decoder alone also takes a naive value), `date` a `date`,
  `timedelta` a `duration`, `UUID` a `uuid`, `Decimal` a string of format `decimal`, bytes a
  base64 string. `Meta(tz=False)` asks for a naive value: a `time` is then a `partial-time`
  (RFC 3339's name for it), a `datetime` a plain string (no format names a local date-time).
  Each of these also has the pattern `_formats` writes, so that the schema refuses what the
  decoder refuses (a leap second, year 0000, a duration in months, `"one"` for a Decimal);
- keys: a mapping's `propertyNames` say what the decoder takes as a key's text: a string's
  constraints, an int's digits, the values of an int `Literal` or enum;
- pydantic models: pydantic's own schema (`_pydantic`), with the same formats, in `$defs` under
  the same naming rule; a class msgspec does not know is refused, never an empty schema;
- names (`_defs`): a Struct, dataclass, TypedDict, NamedTuple or enum is defined once in
  `$defs`, under its class name (`Page[int]` becomes `Page_int`, anything but `[A-Za-z0-9_]`
  an underscore).
  When two different types share a name, the first one met (depth first, in field order) keeps
  it and each later one gets the next free `_2`, `_3`... so names stay short and the same for
  the same signature. The root type is written inline, and is in `$defs` only if it contains
  itself;
- unions keep their order, with `null` last; two or more tagged Structs become one `anyOf` with
  a `discriminator`, where the first of them stood;
- enum values in declaration order (aliases once), `Literal` values sorted by type then value
  (msgspec sorts them before we see them);
- defaults: a field's default when it has a JSON form, and the empty value of a builtin
  container factory (`list`, `dict`...); any other factory is not called;
- a class's docstring (`inspect.cleandoc`) is its description, except the one dataclasses and
  namedtuples write themselves.

Where the decoder accepts more than the schema says (a naive datetime, a number for a
`Decimal`, a repeated item of a set), the schema is the stricter of the two, never the looser:
whatever the schema admits, the decoder accepts (tests/test_schema_agreement.py checks it).
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterable, Iterator
from typing import Any, TypeGuard

import msgspec
import msgspec.inspect as mi

from . import _formats, _pydantic
from ._defs import class_name, model_defs, names_of, reached

__all__ = ["json_schema"]

_NAMED = (mi.StructType, mi.DataclassType, mi.TypedDictType, mi.NamedTupleType, mi.EnumType)
_Named = (
    mi.StructType | mi.DataclassType | mi.TypedDictType | mi.NamedTupleType | mi.EnumType
) | mi.CustomType
_DESCRIPTIVE = frozenset({"title", "description"})
_EMPTY_FACTORIES = (list, dict, set, frozenset, tuple, bytearray)
# msgspec also takes a UUID's 32 hex digits without hyphens; the schema asks for the usual form.
_UUID = {"type": "string", "format": "uuid"}
_FORMATS: dict[type[mi.Type], dict[str, Any]] = {
    mi.DateType: _formats.date(),
    mi.TimeDeltaType: _formats.DURATION,
    mi.UUIDType: _UUID,
    mi.DecimalType: _formats.DECIMAL,
}


def json_schema(tp: Any) -> dict[str, Any]:
    """The self-contained JSON Schema of a type: the root inline, named types in `$defs`.

    Raises `TypeError` or `ValueError` for a type msgspec cannot describe as JSON, or cannot
    decode (a class it does not know, pydantic models aside).
    """
    info = mi.type_info(tp)
    named = {t.cls: t for t in _named_types(info)}
    names = names_of(named)
    models = model_defs([cls for cls in named if _pydantic.is_model(cls)], names)
    writer = _Writer(names, models)
    root = writer.schema(info, as_ref=False)
    bodies = {names[cls]: writer.schema(t, as_ref=False) for cls, t in named.items()}
    bodies.update({name: body for name, body in models.items() if name not in bodies})
    # Only what the root reaches: the root itself is in `$defs` only if it contains itself.
    defs = {name: bodies[name] for name in bodies if name in reached(root, bodies)}
    if defs:
        root["$defs"] = defs
    return root


def _named_types(t: mi.Type, seen: set[Any] | None = None) -> Iterator[Any]:
    """Every named type under `t`, depth first in field order, each once."""
    seen = set() if seen is None else seen
    if _is_named(t):
        if t.cls in seen:
            return
        seen.add(t.cls)
        yield t
    for child in _children(t):
        yield from _named_types(child, seen)


def _children(t: mi.Type) -> Iterable[mi.Type]:
    if isinstance(t, mi.Metadata):
        return (t.type,)
    if isinstance(t, mi.CollectionType):
        return (t.item_type,)
    if isinstance(t, mi.DictType):
        return (t.key_type, t.value_type)
    if isinstance(t, mi.TupleType):
        return t.item_types
    if isinstance(t, mi.UnionType):
        return t.types
    if isinstance(t, (mi.StructType, mi.DataclassType, mi.TypedDictType, mi.NamedTupleType)):
        return [field.type for field in t.fields]
    return ()


class _Writer:
    def __init__(self, names: dict[Any, str], models: dict[str, dict[str, Any]]) -> None:
        self.names = names
        self.models = models

    def schema(self, t: mi.Type, *, as_ref: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while isinstance(t, mi.Metadata):  # msgspec has merged stacked `Meta`s into one
            out.update(t.extra_json_schema or {})
            t = t.type
        if as_ref and _is_named(t):
            return {**out, "$ref": f"#/$defs/{self.names[t.cls]}"}
        body = self._body(t)
        # An annotation's title or description wins over the class's; structure is the type's.
        return out | {k: v for k, v in body.items() if k not in out or k not in _DESCRIPTIVE}

    def _body(self, t: mi.Type) -> dict[str, Any]:
        if isinstance(t, (mi.AnyType, mi.RawType)):
            return {}
        if isinstance(t, mi.NoneType):
            return {"type": "null"}
        if isinstance(t, mi.BoolType):
            return {"type": "boolean"}
        if isinstance(t, (mi.IntType, mi.FloatType)):
            return _number(t)
        if isinstance(t, (mi.StrType, mi.BytesType, mi.ByteArrayType, mi.MemoryViewType)):
            return _string(t)
        if isinstance(t, mi.DateTimeType):
            return _formats.date_time(naive=t.tz is False)
        if isinstance(t, mi.TimeType):
            return _formats.time(naive=t.tz is False)
        if type(t) in _FORMATS:
            return copy.deepcopy(_FORMATS[type(t)])
        if isinstance(t, (mi.CollectionType, mi.TupleType)):
            return self._array(t)
        if isinstance(t, mi.DictType):
            return self._mapping(t)
        if isinstance(t, mi.UnionType):
            options = self._options(t)
            return options[0] if len(options) == 1 else {"anyOf": options}  # 1: tagged Structs
        if isinstance(t, mi.LiteralType):
            return {"enum": sorted(t.values, key=lambda v: (type(v).__name__, v))}
        if isinstance(t, mi.EnumType):
            return {**_titled(t), "enum": _values(t)}
        if isinstance(t, mi.DataclassType) and (reason := _pydantic.refuse(t.cls)):
            raise TypeError(reason)
        if isinstance(t, (mi.StructType, mi.DataclassType, mi.TypedDictType, mi.NamedTupleType)):
            return self._record(t)
        if isinstance(t, mi.CustomType) and _pydantic.is_model(t.cls):
            return copy.deepcopy(self.models[self.names[t.cls]])
        # A class msgspec does not know is never decoded (msgspec wants a `dec_hook`, which a
        # tool has no place for), so a schema for it, even one given in `Meta(extra_json_schema)`,
        # would promise the model arguments that are then always refused.
        what = getattr(t, "cls", t)
        raise TypeError(
            f"msgspec can neither describe nor decode {what!r}; use a Struct, a dataclass, "
            "a TypedDict, a pydantic model or a builtin type"
        )

    def _array(self, t: mi.CollectionType | mi.TupleType) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array"}
        if isinstance(t, mi.TupleType):
            if t.item_types:
                out["prefixItems"] = [self.schema(item) for item in t.item_types]
                out["items"] = False
            out["minItems"] = out["maxItems"] = len(t.item_types)
            return out
        if not isinstance(t.item_type, mi.AnyType):
            out["items"] = self.schema(t.item_type)
        out.update(_lengths(t, "minItems", "maxItems"))
        if isinstance(t, (mi.SetType, mi.FrozenSetType)):
            out["uniqueItems"] = True
        return out

    def _mapping(self, t: mi.DictType) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object"}
        names = self._key(t.key_type)
        if names:
            out["propertyNames"] = names
        if not isinstance(t.value_type, mi.AnyType):
            out["additionalProperties"] = self.schema(t.value_type)
        out.update(_lengths(t, "minProperties", "maxProperties"))
        return out

    def _key(self, t: mi.Type) -> dict[str, Any]:
        """What the decoder takes as a key, said of the key's text (JSON keys are strings).

        `{}` where no schema of the text says it: a float key, or the bounds of an int key.
        """
        if _is_text(t):  # a string's own constraints apply to the key as it is
            return {k: v for k, v in self.schema(t).items() if k != "type"}
        inner = _unwrapped(t)
        if isinstance(inner, mi.IntType):
            return {"pattern": _formats.INTEGER_KEY_PATTERN}
        if isinstance(inner, (mi.LiteralType, mi.EnumType)):
            values = _values(inner)
            if all(isinstance(v, int) for v in values):
                return {"enum": [str(v) for v in values]}
        if isinstance(inner, mi.UnionType):
            options = [self._key(member) for member in inner.types]
            return {"anyOf": options} if all(options) else {}
        schema = self.schema(t)  # a type written as a string (a date, a UUID): its text is the key
        if schema.get("type") != "string":
            return {}
        return {k: v for k, v in schema.items() if k != "type"}

    def _options(self, t: mi.UnionType) -> list[dict[str, Any]]:
        tagged = [m for m in t.types if _is_tagged(m)]
        options: list[dict[str, Any]] = []
        nulls: list[dict[str, Any]] = []
        for member in t.types:
            if _is_tagged(member) and len(tagged) > 1:
                if member is tagged[0]:
                    options.append(self._discriminated(tagged))
            elif isinstance(_unwrapped(member), mi.NoneType):
                nulls.append(self.schema(member))
            else:
                options.append(self.schema(member))
        return options + nulls

    def _discriminated(self, tagged: list[mi.Type]) -> dict[str, Any]:
        structs = [_unwrapped(m) for m in tagged]
        refs = [self.schema(m) for m in tagged]
        mapping = {str(s.tag): ref["$ref"] for s, ref in zip(structs, refs, strict=True)}
        field = structs[0].tag_field
        return {"anyOf": refs, "discriminator": {"propertyName": field, "mapping": mapping}}

    def _record(
        self, t: mi.StructType | mi.DataclassType | mi.TypedDictType | mi.NamedTupleType
    ) -> dict[str, Any]:
        names: list[str] = []
        fields: list[dict[str, Any]] = []
        if isinstance(t, mi.StructType) and t.tag_field is not None:
            names.append(t.tag_field)
            fields.append({"enum": [t.tag]})
        required = list(names)
        for field in t.fields:
            names.append(field.encode_name)
            fields.append({**self.schema(field.type), **_default(field)})
            if field.required:
                required.append(field.encode_name)
        out = _titled(t)
        if isinstance(t, mi.NamedTupleType) or (isinstance(t, mi.StructType) and t.array_like):
            out["type"] = "array"
            if fields:
                out["prefixItems"] = fields
            # Defaulted fields can only be left off the end.
            out["minItems"] = len(fields) - _optional_tail(t.fields)
            if isinstance(t, mi.NamedTupleType) or t.forbid_unknown_fields:
                out["maxItems"] = len(fields)
            return out
        out.update(type="object", properties=dict(zip(names, fields, strict=True)))
        out["required"] = required
        if isinstance(t, mi.StructType) and t.forbid_unknown_fields:
            out["additionalProperties"] = False
        return out


def _number(t: mi.IntType | mi.FloatType) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "integer" if isinstance(t, mi.IntType) else "number"}
    bounds = {
        "minimum": t.ge,
        "exclusiveMinimum": t.gt,
        "maximum": t.le,
        "exclusiveMaximum": t.lt,
        "multipleOf": t.multiple_of,
    }
    return out | {k: v for k, v in bounds.items() if v is not None}


def _string(t: mi.StrType | mi.BytesType | mi.ByteArrayType | mi.MemoryViewType) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string"}
    if isinstance(t, mi.StrType):
        if t.pattern is not None:
            out["pattern"] = t.pattern
        return out | _lengths(t, "minLength", "maxLength")
    out["contentEncoding"] = "base64"  # an annotation only (JSON Schema 2020-12, section 8.3)
    out["pattern"] = _formats.BASE64_PATTERN
    # n bytes are 4 * ceil(n / 3) base64 characters
    return out | {
        key: 4 * ((n + 2) // 3) for key, n in _lengths(t, "minLength", "maxLength").items()
    }


def _lengths(t: Any, low: str, high: str) -> dict[str, int]:
    bounds = {low: t.min_length, high: t.max_length}
    return {k: v for k, v in bounds.items() if v is not None}


def _default(field: mi.Field) -> dict[str, Any]:
    if field.required:
        return {}
    if field.default is not msgspec.NODEFAULT:
        value = field.default
    elif field.default_factory in _EMPTY_FACTORIES:
        value = field.default_factory()
    else:
        return {}  # calling an arbitrary factory could have side effects
    try:
        return {"default": msgspec.to_builtins(value, str_keys=True)}
    except (TypeError, ValueError):
        return {}  # a default with no JSON form is not shown


def _optional_tail(fields: tuple[mi.Field, ...]) -> int:
    """How many fields at the end have a default."""
    count = 0
    for field in reversed(fields):
        if field.required:
            break
        count += 1
    return count


def _titled(t: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"title": class_name(t.cls, safe=False)}
    cls = getattr(t.cls, "__origin__", t.cls)
    doc = inspect.cleandoc(cls.__doc__ or "")
    generated = doc.startswith(f"{cls.__name__}(") and doc.endswith(")")  # dataclass, namedtuple
    if doc and not generated:
        out["description"] = doc
    return out


def _unwrapped(t: mi.Type) -> Any:
    while isinstance(t, mi.Metadata):
        t = t.type
    return t


def _is_named(t: mi.Type) -> TypeGuard[_Named]:
    return isinstance(t, _NAMED) or (isinstance(t, mi.CustomType) and _pydantic.is_model(t.cls))


def _values(t: mi.LiteralType | mi.EnumType) -> list[Any]:
    if isinstance(t, mi.LiteralType):
        return list(t.values)
    return list({id(m): m.value for m in t.cls.__members__.values()}.values())


def _is_tagged(t: mi.Type) -> bool:
    t = _unwrapped(t)
    return isinstance(t, mi.StructType) and not t.array_like and t.tag_field is not None


def _is_text(t: mi.Type) -> bool:
    t = _unwrapped(t)
    if isinstance(t, mi.UnionType):
        return all(_is_text(member) for member in t.types)
    if isinstance(t, mi.LiteralType):
        return all(isinstance(v, str) for v in t.values)
    if isinstance(t, mi.EnumType):
        return all(isinstance(m.value, str) for m in t.cls.__members__.values())
    return isinstance(t, mi.StrType)
