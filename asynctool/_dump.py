"""`model_dump()` and `model_dump_json()` on the wire structs, as the OpenAI SDK's models have them.

Code ported from the SDK calls `completion.model_dump()`, `message.model_dump(exclude_none=True)`
or `chunk.model_dump_json()`. The rules are pydantic's, as the SDK (openai 1.x to 3.x, pydantic
2) applies them, checked side by side in `tests/test_porting.py`:

- A response struct dumps every field it names, `None` where the server sent nothing, and every
  field it carries unnamed (an extended struct of `_lossless`), by the API's own names.
  `msgspec.to_builtins` already includes the unnamed ones; this walk adds what it leaves out
  for a chunk (whose structs omit defaults when encoded, to keep streams cheap), and applies
  the options field by field.
- A request struct (a message, a content part) dumps as it is sent: the fields that were set.
  The SDK has no models for them (its request messages are TypedDicts), and this is the dict
  that would have been written by hand.
- `exclude_none` drops the fields of structs that are `None`, at every depth, but not the
  entries of a plain dict; `exclude_defaults` drops fields equal to their default (an unnamed
  field has none, and stays). Both as pydantic does.
- `exclude_unset` is taken as `exclude_defaults`: a decoded struct does not remember which fields
  the server sent with their default value (the SDK keeps a `"refusal": null` the server sent;
  this drops it).
- `include` and `exclude` are pydantic's: a set of keys, or a dict from key to `True` or to the
  same for the value, with list indexes (negative ones too) and `"__all__"`.
- `mode="python"` leaves datetimes, UUIDs, decimals and bytes (in a parsed value) as objects;
  `mode="json"` converts them as msgspec encodes them.
- `by_alias`, `round_trip`, `warnings`, `context`, `serialize_as_any`, ... are accepted: nothing
  they change exists here (the API's names are the only names). `fallback` converts a value
  msgspec cannot.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import msgspec

__all__ = ["Dumps"]

_PYTHON_TYPES = (
    datetime.datetime,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    decimal.Decimal,
    bytes,
    bytearray,
    memoryview,
)
_NO_DEFAULT = object()
IncEx = set[str] | set[int] | Mapping[Any, Any]


class Dumps:
    """The SDK's `model_dump` and `model_dump_json`, mixed into the wire structs."""

    __slots__ = ()
    # Chunks omit defaults when encoded, for speed; dumped, they show every field, as the SDK's.
    _dump_defaults: ClassVar[bool | None] = None  # None: as the struct encodes

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] | str = "python",
        include: IncEx | None = None,
        exclude: IncEx | None = None,
        context: Any = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        exclude_computed_fields: bool = False,
        round_trip: bool = False,
        warnings: bool | Literal["none", "warn", "error"] = True,
        fallback: Callable[[Any], Any] | None = None,
        serialize_as_any: bool = False,
        polymorphic_serialization: bool | None = None,
    ) -> dict[str, Any]:
        """This object as a dict of plain values, as the OpenAI SDK's `model_dump` gives it.

        See `asynctool._dump` for how each option applies; `exclude_unset` is taken as
        `exclude_defaults`.
        """
        if mode not in ("python", "json"):
            raise ValueError(f"mode must be 'python' or 'json', got {mode!r}")
        walk = _Walk(
            python=mode == "python",
            exclude_none=exclude_none,
            exclude_defaults=exclude_defaults or exclude_unset,
            fallback=fallback,
        )
        dumped: dict[str, Any] = walk.value(self, _spec(include), _spec(exclude))
        return dumped

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        ensure_ascii: bool = False,
        include: IncEx | None = None,
        exclude: IncEx | None = None,
        context: Any = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        exclude_computed_fields: bool = False,
        round_trip: bool = False,
        warnings: bool | Literal["none", "warn", "error"] = True,
        fallback: Callable[[Any], Any] | None = None,
        serialize_as_any: bool = False,
        polymorphic_serialization: bool | None = None,
    ) -> str:
        """This object as JSON text, as the OpenAI SDK's `model_dump_json` gives it: compact,
        or indented by `indent` spaces."""
        data = self.model_dump(
            mode="json",
            include=include,
            exclude=exclude,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
            fallback=fallback,
        )
        if ensure_ascii:  # msgspec writes UTF-8 as it is; the stdlib can escape it
            separators = (",", ":") if indent is None else None
            return json.dumps(data, ensure_ascii=True, indent=indent, separators=separators)
        encoded = msgspec.json.encode(data)
        if indent is not None:
            encoded = msgspec.json.format(encoded, indent=indent)
        return encoded.decode()


class _Walk:
    """One dump: the options, applied while walking the value."""

    __slots__ = ("exclude_defaults", "exclude_none", "fallback", "python")

    def __init__(
        self,
        *,
        python: bool,
        exclude_none: bool,
        exclude_defaults: bool,
        fallback: Callable[[Any], Any] | None,
    ) -> None:
        self.python = python
        self.exclude_none = exclude_none
        self.exclude_defaults = exclude_defaults
        self.fallback = fallback

    def value(self, value: Any, include: Any, exclude: Any) -> Any:
        if isinstance(value, msgspec.Struct):
            return self.struct(value, include, exclude)
        if isinstance(value, dict):
            return {
                key: self.value(item, *inner)
                for key, item in value.items()
                if (inner := _narrowed(key, include, exclude)) is not None
            }
        if isinstance(value, list | tuple):
            size = len(value)
            return [
                self.value(item, *inner)
                for i, item in enumerate(value)
                if (inner := _narrowed(i, include, exclude, size)) is not None
            ]
        builtin_types = _PYTHON_TYPES if self.python else None
        return msgspec.to_builtins(value, builtin_types=builtin_types, enc_hook=self.fallback)

    def struct(self, obj: msgspec.Struct, include: Any, exclude: Any) -> dict[str, Any]:
        cls = type(obj)
        tag_field, tag, fields = _layout(cls)
        skip_defaults = self.exclude_defaults or _omits(cls)
        out: dict[str, Any] = {}
        if tag_field is not None and _narrowed(tag_field, include, exclude) is not None:
            out[tag_field] = tag
        for attr, key, default, factory in fields:
            value = getattr(obj, attr)
            if value is msgspec.UNSET or (self.exclude_none and value is None):
                continue
            if skip_defaults and factory is not None and value == factory():
                continue
            if skip_defaults and default is not _NO_DEFAULT and value == default:
                continue
            inner = _narrowed(key, include, exclude)
            if inner is not None:
                out[key] = self.value(value, *inner)
        return out


Field = tuple[str, str, Any, Callable[[], Any] | None]


@functools.cache
def _layout(cls: type) -> tuple[str | None, Any, tuple[Field, ...]]:
    """A struct class's tag and, per field, its attribute, its JSON key, its default
    (`_NO_DEFAULT` for none) and its default factory."""
    config = cls.__struct_config__  # type: ignore[attr-defined]
    fields = []
    for info in msgspec.structs.fields(cls):
        default = info.default if info.default is not msgspec.NODEFAULT else _NO_DEFAULT
        factory = info.default_factory if info.default_factory is not msgspec.NODEFAULT else None
        fields.append((info.name, info.encode_name, default, factory))
    return config.tag_field, config.tag, tuple(fields)


@functools.cache
def _omits(cls: type) -> bool:
    """Whether a struct dumps without its defaults: as it encodes, unless the class says."""
    says: bool | None = getattr(cls, "_dump_defaults", None)
    if says is not None:
        return not says
    return bool(cls.__struct_config__.omit_defaults)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- include, exclude


def _spec(value: Any) -> Any:
    """pydantic's include/exclude, normalised: None (no filter), True (the whole value), or a
    dict from key to one of these."""
    if value is None or value is True or value is Ellipsis:
        return value if value is None else True
    if isinstance(value, Mapping):
        return {key: _spec(inner) if inner is not False else None for key, inner in value.items()}
    return dict.fromkeys(value, True)


def _narrowed(key: Any, include: Any, exclude: Any, size: int | None = None) -> Any:
    """The include and exclude for the value under `key`, or None when it is left out."""
    if include is not None and include is not True:
        inner_include = _entry(include, key, size)
        if inner_include is None:
            return None
    else:
        inner_include = include
    if exclude is not None:
        inner_exclude = _entry(exclude, key, size)
        if inner_exclude is True:
            return None
    else:
        inner_exclude = None
    return inner_include, inner_exclude


def _entry(spec: dict[Any, Any], key: Any, size: int | None) -> Any:
    found = spec.get(key)
    if found is None and size is not None and isinstance(key, int):
        found = spec.get(key - size)  # a negative index names the same item
    return _merged(found, spec.get("__all__"))


def _merged(a: Any, b: Any) -> Any:
    """Two specs for one value (its own and `"__all__"`'s): what either takes, taken."""
    if a is None or b is None:
        return b if a is None else a
    if a is True or b is True:
        return True
    merged = dict(a)
    for key, inner in b.items():
        merged[key] = _merged(merged.get(key), inner)
    return merged
