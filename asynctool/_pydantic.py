"""pydantic models as tool parameters and output types: pydantic's schema, pydantic's validation.

msgspec sees a `pydantic.BaseModel` as a class it does not know. For such a class the schema is
pydantic's own (`model_json_schema` in validation mode, the schema of what the model accepts),
and the value msgspec decoded as plain JSON is handed to `model_validate_json` through msgspec's
`dec_hook`, so pydantic's validators, aliases and coercions all apply, exactly as when pydantic
parses the same JSON itself (JSON mode: a `strict` model still takes ISO strings for dates).
pydantic documents both: https://docs.pydantic.dev/latest/concepts/json_schema/ and
https://docs.pydantic.dev/latest/concepts/json/.

pydantic is optional (`pip install 'asynctool[pydantic]'`): nothing here imports it until a
model is met, and a class can only be a model once its program has imported pydantic, so
`import asynctool` never imports it. pydantic 1 models (and `pydantic.v1`) are not models here.

Where pydantic's schema and its validator disagree, the schema is rewritten with asynctool's
rules (`_formats`): `NaiveDatetime` is written as a date-time with an offset, which its
validator refuses; a `Decimal` has a pattern with a lookahead that strict mode may refuse; a
leap second and year 0000 are admitted by `date-time` and refused by pydantic. A discriminated
union is an `anyOf` (its tags already make the variants exclusive), as asynctool writes them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import msgspec

from . import _formats

__all__ = ["ModelValidationError", "decode_hook", "is_model", "model_schemas", "refuse"]

# Constraints of a pydantic date, time or Decimal that JSON Schema has no keyword for: its bounds
# apply to numbers, and these travel as strings. The model reads them in the description.
_UNSAID = ("gt", "ge", "lt", "le", "multiple_of", "max_digits", "decimal_places", "now_op")


class ModelValidationError(ValueError):
    """pydantic refused a value: msgspec reports it at the model's path, with this as its cause.

    Attributes:
        errors: each problem as (location inside the model, pydantic's message).
    """

    def __init__(self, errors: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.errors = errors
        loc, message = errors[0]
        where = ".".join(str(part) for part in loc)
        super().__init__(f"{message} at `{where}`" if where else message)


def is_model(cls: Any) -> bool:
    """Whether `cls` is a pydantic (2) `BaseModel` subclass; never imports pydantic."""
    base = getattr(sys.modules.get("pydantic"), "BaseModel", None)
    return base is not None and isinstance(cls, type) and issubclass(cls, base)


def refuse(cls: Any) -> str | None:
    """Why a class that looks like something msgspec knows must not be decoded by msgspec."""
    dataclasses = sys.modules.get("pydantic.dataclasses")
    if dataclasses is not None and dataclasses.is_pydantic_dataclass(cls):
        # msgspec fills a dataclass without calling its __init__, where pydantic validates.
        return (
            f"{cls.__qualname__} is a pydantic dataclass, which msgspec would build without "
            "pydantic's validation; make it a pydantic BaseModel or a plain dataclass"
        )
    return None


def model_schemas(models: list[type[Any]]) -> tuple[dict[type[Any], str], dict[str, Any]]:
    """pydantic's definitions for `models`, and which definition is each model's.

    One call for all of them, so that a model used twice, or inside another, is one definition.
    """
    from pydantic.json_schema import models_json_schema

    refs, top = models_json_schema(
        [(model, "validation") for model in models], schema_generator=_generator()
    )
    keys = {model: refs[(model, "validation")]["$ref"].rpartition("/")[2] for model in models}
    return keys, top.get("$defs", {})


def decode_hook(tp: type[Any], obj: Any) -> Any:
    """msgspec's `dec_hook`: validate the JSON value msgspec decoded with the pydantic model.

    Raises `ModelValidationError` (msgspec turns a ValueError into a ValidationError at the
    model's path, and keeps this as its `__cause__`).
    """
    if not is_model(tp):  # pragma: no cover - json_schema refuses such types before decoding
        raise TypeError(f"Expected `{tp.__qualname__}`")
    import pydantic

    try:
        return tp.model_validate_json(msgspec.json.encode(obj))
    except pydantic.ValidationError as exc:
        errors = [(tuple(error["loc"]), str(error["msg"])) for error in exc.errors()]
        raise ModelValidationError(errors) from exc


@functools.cache
def _generator() -> type[Any]:
    """pydantic's schema generator with asynctool's formats (built on first use)."""
    from pydantic.json_schema import GenerateJsonSchema

    def described(method: Callable[[Any, Any], dict[str, Any]]) -> Any:
        def write(self: Any, schema: Any) -> dict[str, Any]:
            return _noted(method(self, schema), schema)

        return write

    class Generator(GenerateJsonSchema):
        @described
        def datetime_schema(self, schema: Any) -> dict[str, Any]:
            return _formats.date_time(naive=schema.get("tz_constraint") == "naive")

        @described
        def time_schema(self, schema: Any) -> dict[str, Any]:
            return _formats.time(naive=schema.get("tz_constraint") == "naive")

        @described
        def date_schema(self, schema: Any) -> dict[str, Any]:
            return _formats.date()

        @described
        def decimal_schema(self, schema: Any) -> dict[str, Any]:
            # pydantic also takes a JSON number; asking for the string is the stricter choice.
            return dict(_formats.DECIMAL)

        def tagged_union_schema(self, schema: Any) -> dict[str, Any]:
            written: dict[str, Any] = super().tagged_union_schema(schema)
            if "oneOf" in written:
                written["anyOf"] = written.pop("oneOf")
            return written

    return Generator


def _noted(written: dict[str, Any], schema: Any) -> dict[str, Any]:
    """Add to the description what a constraint of `schema` says that `written` cannot."""
    notes = [f"{key}: {schema[key]!s}" for key in _UNSAID if schema.get(key) is not None]
    if notes:
        written["description"] = ", ".join(notes)
    return written
