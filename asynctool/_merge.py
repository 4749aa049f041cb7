"""The two rules by which a stream's unnamed fields merge into the final completion.

A field a delta or a tool-call fragment carries adds to what came before, as `content` does:
`merge_delta`. A field a chunk or a choice carries is sent whole, again and again
(`provider`, `x_groq`, `native_finish_reason`): `merge_snapshot`. The accumulator's module
docstring says which applies where.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Final

from ._lossless import wire_extras

__all__ = ["merge_delta", "merge_snapshot", "merged_extras"]

# In objects merged across deltas these name a thing rather than add to it: the first value
# stays, as a tool call's `id`, `type` and `name` do (OpenRouter repeats `type`, `format` and
# `index` on every `reasoning_details` fragment).
_NAMING_KEYS: Final = frozenset({"id", "type", "name", "index", "format"})


def merge_delta(old: Any, new: Any, key: str | None = None) -> Any:
    """Merge what a delta adds to a field into what the earlier deltas built.

    Strings concatenate (like `content`), except naming keys (`id`, `type`, `name`, `index`,
    `format`), which keep their first value; lists of blocks with an `index` merge block by
    block on it and their `type` (as OpenRouter streams `reasoning_details`), other lists
    extend; objects merge by key with these same rules; other scalars: the last one wins;
    `null` adds nothing. `old` is owned by the caller and updated in place where it can be;
    `new` is never changed.
    """
    if new is None:
        return old
    if old is None:
        return copy.deepcopy(new) if isinstance(new, dict | list) else new
    if isinstance(old, str) and isinstance(new, str):
        return old if key in _NAMING_KEYS else old + new
    if isinstance(old, list) and isinstance(new, list):
        return _merge_blocks(old, new)
    if isinstance(old, dict) and isinstance(new, dict):
        for k, v in new.items():
            old[k] = merge_delta(old.get(k), v, k) if k in old else copy.deepcopy(v)
        return old
    return new


def _merge_blocks(old: list[Any], new: list[Any]) -> list[Any]:
    for block in new:
        index = block.get("index") if isinstance(block, dict) else None
        if index is not None:
            for i, earlier in enumerate(old):
                if isinstance(earlier, dict) and _same_block(earlier, block, index):
                    old[i] = merge_delta(earlier, block)
                    break
            else:
                old.append(copy.deepcopy(block))
        else:
            old.append(copy.deepcopy(block))
    return old


def _same_block(earlier: dict[str, Any], block: dict[str, Any], index: Any) -> bool:
    # OpenRouter streams a Gemini answer's `reasoning.text` and `reasoning.encrypted` blocks
    # both at `index: 0`: a block of another `type` is another block.
    if earlier.get("index") != index:
        return False
    kind, other = earlier.get("type"), block.get("type")
    return kind is None or other is None or kind == other


def merge_snapshot(old: Any, new: Any) -> Any:
    """Merge a field that each chunk sends whole (`provider`, `x_groq`, ...): objects merge by
    key, anything else is replaced by the last value sent; `null` replaces nothing."""
    if new is None:
        return old
    if isinstance(old, dict) and isinstance(new, dict):
        merged = dict(old)
        for k, v in new.items():
            merged[k] = merge_snapshot(old.get(k), v)
        return merged
    return copy.deepcopy(new) if isinstance(new, dict | list) else new


def merged_extras(
    merged: dict[str, Any], obj: object, rule: Callable[[Any, Any], Any] | None = None
) -> dict[str, Any]:
    """Merge the unnamed fields of `obj` into `merged` (by JSON key), by `rule`.

    The first time a key is seen it is kept even when `null`, so a field that only ever came
    as `null` is still there, as `null`.
    """
    for key, value in wire_extras(obj).items():
        if key not in merged:
            merged[key] = copy.deepcopy(value) if isinstance(value, dict | list) else value
        elif rule is None:
            merged[key] = merge_delta(merged[key], value, key)
        else:
            merged[key] = rule(merged[key], value)
    return merged
