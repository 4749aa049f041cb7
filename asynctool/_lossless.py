"""Nothing a provider sends is lost: the fields of a response that asynctool does not name.

Providers put what the next request needs in fields the API does not name (Gemini 3's
`extra_content` thought signatures, OpenRouter's `reasoning_details`, ...). msgspec ignores
unknown fields, so keeping them is done here, without slowing down the common payload:

- **Strict twins decode the common payload.** Each response struct gets a private twin, a
  subclass with `forbid_unknown_fields=True` and the same name, repr and fields, and the
  decoders decode into the twins. A payload with nothing unnamed decodes at msgspec's speed,
  and proves it on the way; one with an unnamed field fails fast and goes the slow way.
- **The slow way keeps everything.** The payload is decoded into plain values, converted into
  the public structs, and each object whose JSON object had keys its struct does not name is
  *extended*: rebuilt as a cached subclass that declares exactly those keys as fields (typed
  `Any`). An extended object reads them as attributes, encodes them (`msgspec.json.encode`,
  `msgspec.to_builtins`) and compares by them; an object without such a field raises
  `AttributeError` for it, as any object does.
- **Streams learn.** A provider that sends the same unnamed fields on every chunk (OpenRouter's
  `provider`, Groq's `x_groq`, ...) would take the slow way every time, so `Decoder` records the
  *shape* of the last slow payload (which objects had which extra keys) and builds a strict
  decoder for that shape, tried first from then on.

`_merge` holds the two rules by which the accumulator merges such fields across a stream.
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Final, Generic, TypeVar, Union

import msgspec

__all__ = [
    "Decoder",
    "convert",
    "extended",
    "extras",
    "keep_unnamed",
    "plain_type",
    "rebuilt",
    "strict",
    "wire_extras",
    "with_extras",
]

T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)

# A public struct class -> its strict twin: one each, so never more than the API has.
_twins: dict[type, type] = {}
# Extended classes and learned decode types are made from what servers send. Both caches are
# bounded, so a server that makes up new field names on every chunk cannot grow memory: an
# evicted class lives on while objects of it do (each class knows its plain base itself).
_extended: dict[tuple[type, tuple[str, ...]], type] = {}
_learned: dict[Any, type] = {}
_MAX_CACHED: Final = 1024


def _cache(cache: dict[Any, type], key: Any, cls: type) -> type:
    if len(cache) >= _MAX_CACHED:
        cache.pop(next(iter(cache)))
    cache[key] = cls
    return cls


# --------------------------------------------------------------------------- extended classes


def plain_type(cls: type) -> type:
    """The public class behind a twin or extended class (the class itself otherwise)."""
    plain: type = cls.__dict__.get("__plain__", cls)
    return plain


def extras(obj: object) -> tuple[str, ...]:
    """The names of the unnamed fields `obj` carries, as attribute names; `()` for none."""
    names: tuple[str, ...] = getattr(type(obj), "__extras__", ())
    return names


def extended(base: type[S], keys: Iterable[str]) -> type[S]:
    """The subclass of `base` that declares the JSON keys `keys` as fields, cached.

    A key that is not a usable attribute name (`x-groq`, `_id`, one that shadows a method of
    the struct) is stored under a safe attribute name and renamed back on the wire.
    """
    base = typing.cast("type[S]", plain_type(base))
    names = tuple(sorted(keys))
    cache_key = (base, names)
    cls = _extended.get(cache_key)
    if cls is None:
        rename = {}
        fields: list[tuple[str, Any]] = []
        for key in names:
            attr = _attribute_name(base, key, set(names) | {f[0] for f in fields})
            if attr != key:
                rename[attr] = key
            fields.append((attr, Any))
        config = base.__struct_config__
        cls = msgspec.defstruct(
            base.__name__,
            fields,
            bases=(base,),
            module=base.__module__,
            kw_only=True,
            rename=rename or None,
            **_tag_options(config),
            namespace={
                "__extras__": tuple(f[0] for f in fields),
                "__plain__": base,
                "__reduce__": _reduce,
                "__eq__": _equal,
                "__ne__": _not_equal,
            },
        )
        cls.__qualname__ = base.__qualname__
        _cache(_extended, cache_key, cls)
    return typing.cast("type[S]", cls)


def with_extras(obj: S, values: dict[str, Any]) -> S:
    """A copy of `obj` that also carries `values` (JSON keys to values), merged over its own."""
    if not values:
        return obj
    current = wire_extras(obj)
    current.update((key, value) for key, value in values.items() if _nameable(key))
    if not current:
        return obj
    base = plain_type(type(obj))
    cls: type[S] = extended(base, current)
    fields = {
        name: getattr(obj, name)
        for name in base.__struct_fields__  # type: ignore[attr-defined]
    }
    encode_names = dict(zip(cls.__struct_encode_fields__, cls.__struct_fields__, strict=True))
    fields.update({encode_names[key]: value for key, value in current.items()})
    return cls(**fields)


def rebuilt(cls: Callable[..., S], obj: msgspec.Struct, **changes: Any) -> S:
    """`obj` as an instance of `cls` (a subclass of its public class, such as a parsed
    completion), with `changes`, and with the unnamed fields `obj` carries."""
    fields = {name: getattr(obj, name) for name in plain_type(type(obj)).__struct_fields__}  # type: ignore[attr-defined]
    fields.update(changes)
    return with_extras(cls(**fields), wire_extras(obj))


def _nameable(key: str) -> bool:
    # msgspec cannot name a field whose key has a quote, a backslash or a control character;
    # no provider sends such keys, and a fuzzer that does loses them.
    return not any(c in '"\\' or c < " " for c in key)


def wire_extras(obj: object) -> dict[str, Any]:
    """The unnamed fields of `obj` by their JSON keys."""
    names = extras(obj)
    if not names:
        return {}
    cls = type(obj)
    encode = dict(zip(cls.__struct_fields__, cls.__struct_encode_fields__, strict=True))  # type: ignore[attr-defined]
    return {encode[name]: getattr(obj, name) for name in names}


def _attribute_name(base: type, key: str, taken: set[str]) -> str:
    if key.isidentifier() and not key.startswith("__") and not hasattr(base, key):
        return key
    cleaned = "".join(c if c.isascii() and c.isalnum() else "_" for c in key).strip("_")
    attr = f"extra_{cleaned or 'field'}"
    while hasattr(base, attr) or attr in taken:
        attr += "_"
    return attr


def _tag_options(config: Any) -> dict[str, Any]:
    # A subclass of a tagged struct names its own tag; messages must keep their `role`.
    if config.tag_field is None:
        return {}
    return {"tag_field": config.tag_field, "tag": config.tag}


def _rebuild(base: type, fields: dict[str, Any], values: dict[str, Any]) -> Any:
    return with_extras(base(**fields), values)


def _reduce(self: msgspec.Struct) -> tuple[Any, ...]:
    # Twins and extended classes are made at run time, so pickle rebuilds them from the base.
    base = plain_type(type(self))
    fields = {name: getattr(self, name) for name in base.__struct_fields__}  # type: ignore[attr-defined]
    return (_rebuild, (base, fields, wire_extras(self)))


def _equal(self: msgspec.Struct, other: object) -> Any:
    # A twin equals the public object with the same fields: a decoded `Usage` compares equal
    # to one built by hand. msgspec's own comparison wants the exact same class.
    if not isinstance(other, msgspec.Struct):
        return NotImplemented
    if type(self) is not type(other):
        left, right = type(self), type(other)
        if plain_type(left) is not plain_type(right) or extras(self) != extras(other):
            return False
    return msgspec.structs.astuple(self) == msgspec.structs.astuple(other)


def _not_equal(self: msgspec.Struct, other: object) -> Any:
    equal = _equal(self, other)
    return equal if equal is NotImplemented else not equal


# --------------------------------------------------------------------------- strict twins


def strict(tp: Any) -> Any:
    """The strict twin of a type: response structs in it forbid unknown fields."""
    return _rewrite(tp, _strict_struct)


def _strict_struct(cls: type, overrides: dict[str, Any] | None = None) -> type:
    """The strict twin of `cls`, with the types of `overrides` for those fields (a learned
    shape's; those twins are cached with the shape, in `_learned`)."""
    twin = _twins.get(cls) if overrides is None else None
    if twin is not None:
        return twin
    # Every field is declared again, in order: msgspec moves a redeclared field to the end,
    # and a twin must keep its base's field order (reprs, `astuple`, positional encoding).
    fields: list[tuple[str, Any, Any] | tuple[str, Any]] = []
    for info in msgspec.structs.fields(cls):
        if overrides and info.name in overrides:
            hint = overrides[info.name]
        else:
            hint = strict(info.type)
        fields.append((info.name, hint, *_default_of(info)))
    config = cls.__struct_config__  # type: ignore[attr-defined]
    twin = msgspec.defstruct(
        cls.__name__,
        fields,
        bases=(cls,),
        module=cls.__module__,
        kw_only=True,
        forbid_unknown_fields=True,
        **_tag_options(config),
        namespace={
            "__extras__": getattr(cls, "__extras__", ()),
            "__plain__": plain_type(cls),
            "__reduce__": _reduce,
            "__eq__": _equal,
            "__ne__": _not_equal,
        },
    )
    twin.__qualname__ = cls.__qualname__
    if overrides is None:
        _twins[cls] = twin
    return twin


def _default_of(info: msgspec.structs.FieldInfo) -> tuple[Any, ...]:
    if info.default is not msgspec.NODEFAULT:
        return (info.default,)
    if info.default_factory is not msgspec.NODEFAULT:
        return (msgspec.field(default_factory=info.default_factory),)
    return ()


def _rewrite(tp: Any, struct: Callable[[type], type]) -> Any:
    """`tp` with every struct class in it replaced by `struct(cls)`."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return struct(tp)
    origin = typing.get_origin(tp)
    if origin is None or origin is typing.Literal:
        return tp
    args = typing.get_args(tp)
    new = tuple(_rewrite(arg, struct) for arg in args)
    if all(a is b for a, b in zip(new, args, strict=True)):
        return tp
    if origin is Union or origin is types.UnionType:
        return functools.reduce(operator.or_, new)
    return origin[new]


# --------------------------------------------------------------------------- the slow way


def keep_unnamed(value: Any, obj: T) -> T:
    """`obj`, converted from the plain JSON `value`, with every key it does not name kept.

    Walks both together: an object whose JSON had keys its struct does not name becomes an
    extended copy (and its parent points to the copy). Lists and dicts of structs are walked
    in place.
    """
    if isinstance(obj, msgspec.Struct):
        if not isinstance(value, dict):
            return obj
        cls = type(obj)
        for attr, key in zip(cls.__struct_fields__, cls.__struct_encode_fields__, strict=True):
            child = getattr(obj, attr)
            if isinstance(child, msgspec.Struct | list | dict) and key in value:
                kept = keep_unnamed(value[key], child)
                if kept is not child:
                    setattr(obj, attr, kept)
        unnamed = {key: item for key, item in value.items() if key not in _known_keys(cls)}
        return with_extras(obj, unnamed) if unnamed else obj
    if isinstance(obj, list) and isinstance(value, list):
        for i, (item, child) in enumerate(zip(value, obj, strict=False)):
            kept = keep_unnamed(item, child)
            if kept is not child:
                obj[i] = kept
    elif isinstance(obj, dict) and isinstance(value, dict):
        for key, child in obj.items():
            if isinstance(child, msgspec.Struct) and key in value:
                obj[key] = keep_unnamed(value[key], child)
    return obj


@functools.cache
def _known_keys(cls: type) -> frozenset[str]:
    config = cls.__struct_config__  # type: ignore[attr-defined]
    keys = set(cls.__struct_encode_fields__)  # type: ignore[attr-defined]
    if config.tag_field is not None:
        keys.add(config.tag_field)
    return frozenset(keys)


def convert(value: Any, type: Any) -> Any:
    """`msgspec.convert(value, type)`, keeping every field the structs do not name.

    Raises:
        msgspec.ValidationError: the value does not fit the type.
    """
    return keep_unnamed(value, msgspec.convert(value, type))


# --------------------------------------------------------------------------- shapes


def _shape(obj: Any) -> Any:
    """What of `obj` is extended, as a hashable tree: `None` when nothing is."""
    if isinstance(obj, msgspec.Struct):
        cls = type(obj)
        children = []
        for attr in cls.__struct_fields__:
            child = _shape(getattr(obj, attr))
            if child is not None:
                children.append((attr, child))
        names = tuple(sorted(wire_extras(obj)))
        if not names and not children:
            return None
        return (plain_type(cls), names, tuple(children))
    if isinstance(obj, list) and obj:
        shapes = {_shape(item) for item in obj}
        return shapes.pop() if len(shapes) == 1 else None
    if isinstance(obj, dict) and obj:
        shapes = {_shape(item) for item in obj.values()}
        return shapes.pop() if len(shapes) == 1 else None
    return None


def _learned_type(shape: Any) -> type:
    """The strict decode type for a shape: extended where it is, a strict twin elsewhere."""
    learned = _learned.get(shape)
    if learned is not None:
        return learned
    base, names, children = shape
    cls = extended(base, names) if names else base
    hints = {info.name: info.type for info in msgspec.structs.fields(base)}
    overrides = {}
    for attr, child in children:
        child_base = child[0]
        learned_child = _learned_type(child)
        overrides[attr] = _rewrite(hints[attr], functools.partial(_swap, child_base, learned_child))
    return _cache(_learned, shape, _strict_struct(cls, overrides))


def _swap(base: type, learned: type, cls: type) -> type:
    return learned if cls is base else _strict_struct(cls)


class Decoder(Generic[T]):
    """Decodes JSON into `type` keeping every field, fast when nothing is unnamed.

    `decode` is the fast decoder of the moment: the strict one, or the one learned from the
    last payload that had unnamed fields. It raises for anything else; `decode_any` then tries
    the other fast decoder and the slow way, and learns. One `Decoder` per stream: what it
    learned is that server's habit.
    """

    __slots__ = ("_base", "_learned_shape", "_type", "decode", "learned")

    def __init__(self, type: Any, base: msgspec.json.Decoder[Any] | None = None) -> None:
        self._type = type
        self._base = base or msgspec.json.Decoder(strict(type))
        self._learned_shape: Any = None
        self.decode: Callable[[bytes], T] = self._base.decode
        self.learned = False  # `decode` keeps unnamed fields (a learned shape)

    def decode_any(self, data: bytes, normalize: Callable[[Any], Any] | None = None) -> T:
        """Decode one payload by whatever way fits, learning from one with unnamed fields.

        Raises:
            msgspec.ValidationError: the payload does not fit the type even the slow way.
            msgspec.DecodeError, RecursionError: it is not JSON (or is nested too deep).
        """
        if self.learned:
            try:
                return typing.cast("T", self._base.decode(data))
            except msgspec.ValidationError:
                pass
        value = msgspec.json.decode(data)
        if normalize is not None:
            value = normalize(value)
        obj: T = convert(value, self._type)
        self._learn(obj)
        return obj

    def _learn(self, obj: Any) -> None:
        shape = _shape(obj)
        if shape is None or shape == self._learned_shape:
            return
        try:
            decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(_learned_type(shape))
        except (TypeError, ValueError):  # a shape msgspec cannot express: stay on the slow way
            return
        self._learned_shape = shape
        self.decode = decoder.decode
        self.learned = True
