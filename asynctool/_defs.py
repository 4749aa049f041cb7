"""`$defs`: the name each named type is defined under, and which definitions a schema reaches.

A Struct, dataclass, TypedDict, NamedTuple, enum or pydantic model is defined once, under its
class name (`Page[int]` becomes `Page_int`, anything but `[A-Za-z0-9_]` an underscore). When two
different types share a name, the first one met keeps it and each later one gets the next free
`_2`, `_3`... pydantic's definitions (a model, and the models and enums of its fields) are
renamed into the same namespace, so that one signature has one set of names.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec.inspect as mi

from . import _pydantic

__all__ = ["class_name", "dereferenced", "model_defs", "names_of", "reached"]

_REF = re.compile(r"#/\$defs/(.+)")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


def dereferenced(schema: Any, defs: dict[str, Any]) -> Any:
    """`schema` with its local `$ref`s followed into `defs` (`{}` for a name `defs` lacks)."""
    while isinstance(schema, dict) and "$ref" in schema:
        schema = defs.get(schema["$ref"].rpartition("/")[2], {})
    return schema


def names_of(named: dict[Any, mi.Type]) -> dict[Any, str]:
    """Each named type's `$defs` name: its own, or the next free `_N` after the first."""
    wanted = {cls: class_name(cls, safe=True) for cls in named}
    reserved = set(wanted.values())  # a later `Twin_2` suffix must not take a real `Twin_2`'s name
    names: dict[Any, str] = {}
    for cls, name in wanted.items():
        names[cls] = _free(name, set(names.values()), reserved)
    return names


def _free(name: str, taken: set[str], reserved: frozenset[str] | set[str] = frozenset()) -> str:
    candidate, n = name, 2
    while candidate in taken or (candidate != name and candidate in reserved):
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def model_defs(models: list[Any], names: dict[Any, str]) -> dict[str, dict[str, Any]]:
    """pydantic's definitions for the models of a type, under asynctool's `$defs` names.

    A model met in the signature keeps the name `names_of` gave it; a model or enum that only
    pydantic sees (a field of a model) gets its pydantic name, numbered if it is taken.
    """
    if not models:
        return {}
    keys, defs = _pydantic.model_schemas(models)
    rename = {keys[cls]: names[cls] for cls in models}
    taken = set(names.values())
    for key in defs:
        if key not in rename:
            rename[key] = _free(_UNSAFE.sub("_", key).strip("_") or "Type", taken)
            taken.add(rename[key])
    return {rename[key]: _renamed(body, rename) for key, body in defs.items()}


def _renamed(node: Any, rename: dict[str, str]) -> Any:
    """A copy of `node` whose `$ref`s point at the renamed definitions."""
    if isinstance(node, list):
        return [_renamed(item, rename) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _renamed(value, rename) for key, value in node.items()}
    ref = node.get("$ref")
    if isinstance(ref, str) and (match := _REF.fullmatch(ref)) and match[1] in rename:
        out["$ref"] = f"#/$defs/{rename[match[1]]}"
    return out


def reached(root: dict[str, Any], bodies: dict[str, dict[str, Any]]) -> set[str]:
    """The names of the definitions `root` refers to, directly or through other definitions."""
    found: set[str] = set()
    pending: list[Any] = [root]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            match = _REF.fullmatch(ref) if isinstance(ref, str) else None
            if match and match[1] in bodies and match[1] not in found:
                found.add(match[1])
                pending.append(bodies[match[1]])
            pending.extend(value for key, value in node.items() if key != "$ref")
    return found


def class_name(cls: Any, *, safe: bool) -> str:
    origin = getattr(cls, "__origin__", None)
    if origin is None:
        name = str(cls.__name__)
    else:  # a parametrized generic, `Page[int]`
        args = ", ".join(a.__name__ if isinstance(a, type) else repr(a) for a in cls.__args__)
        name = f"{origin.__name__}[{args}]"
    if not safe:
        return name
    return _UNSAFE.sub("_", name).strip("_") or "Type"
