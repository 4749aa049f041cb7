"""`AsyncCloseable`: `async with x:` for anything with an `async close()`."""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncCloseable"]


class AsyncCloseable:
    """Makes `async with` close the object on the way out, however the block ends."""

    async def close(self) -> None:
        """Release what the object holds; safe to call more than once."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
