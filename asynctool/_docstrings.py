"""A function's docstring as descriptions: its summary, and the text of each parameter.

Parsing is docstring_parser's work. This module only picks the style from markers it can see
(a NumPy underlined `Parameters`, reST `:param`, Epydoc `@param`, a Google `Args:` header) rather
than letting the parser guess, because a guess that fails falls back silently to "no
parameters". Whatever could not be read is listed in `Docstring.problems`, so the caller can
warn about it instead of dropping it.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from dataclasses import dataclass, field

import docstring_parser
from docstring_parser import DocstringStyle

__all__ = ["Docstring", "DocstringWarning", "parse_docstring"]

_SECTIONS = "Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Other Parameters"
_GOOGLE = re.compile(rf"^\s*(?:{_SECTIONS}):\s*$", re.MULTILINE)
_NUMPY = re.compile(r"^\s*(?:Other )?Parameters\s*\n\s*-{3,}\s*$", re.MULTILINE)
_REST = re.compile(r"^\s*:(?:param|parameter|arg|argument|key|keyword)\b", re.MULTILINE)
_EPYDOC = re.compile(r"^\s*@param\b", re.MULTILINE)
_SECTION_START = re.compile(rf"\s*(?:(?:{_SECTIONS}):?\s*$|:\w|@param\b)")
_STYLES = (
    (_NUMPY, DocstringStyle.NUMPYDOC),
    (_REST, DocstringStyle.REST),
    (_EPYDOC, DocstringStyle.EPYDOC),
    (_GOOGLE, DocstringStyle.GOOGLE),
)


class DocstringWarning(UserWarning):
    """Part of a tool's docstring could not be used.

    Issued when the tool is defined, pointing at the function, for a parameter section that
    could not be parsed, a parameter documented without a description, and a documented
    parameter that is not in the signature.
    """


@dataclass(frozen=True)
class Docstring:
    """What a docstring tells a model: the summary and one description per parameter."""

    summary: str = ""
    params: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def parse_docstring(doc: str | None) -> Docstring:
    """Read a docstring in Google, NumPy, reST (Sphinx) or Epydoc style."""
    if not doc or not doc.strip():
        return Docstring()
    text = inspect.cleandoc(doc)
    style = _detect_style(text)
    try:
        parsed = docstring_parser.parse(_prepare(text, style), style=style)
    except docstring_parser.ParseError as exc:
        problem = f"its parameter section could not be read ({exc})"
        return Docstring(summary=_first_paragraph(text), problems=(problem,))
    params, problems = _params(parsed)
    if style is not DocstringStyle.AUTO and not parsed.params:
        problems.append("it has a parameter section, but no parameter could be read from it")
    return Docstring(summary=_summary(parsed), params=params, problems=tuple(problems))


def _detect_style(text: str) -> DocstringStyle:
    for pattern, style in _STYLES:
        if pattern.search(text):
            return style
    return DocstringStyle.AUTO


def _prepare(text: str, style: DocstringStyle) -> str:
    """Put a Google section header found on the first line back into shape.

    docstring_parser takes a header on the first line for the summary, and `inspect.cleandoc`
    dedents the lines after the first line on their own, so a lone section ends up no more
    indented than its header. An empty first line and an indent restore both.
    """
    first, _, rest = text.partition("\n")
    if style is not DocstringStyle.GOOGLE or not _GOOGLE.match(first):
        return text
    if rest.strip() and not rest.lstrip("\n")[0].isspace():
        rest = textwrap.indent(rest, "    ")
    return f"\n{first}\n{rest}"


def _params(parsed: docstring_parser.Docstring) -> tuple[dict[str, str], list[str]]:
    params: dict[str, str] = {}
    problems: list[str] = []
    for param in parsed.params:
        text = _one_line(param.description or "")
        if text:
            params[param.arg_name] = text
        else:
            problems.append(f"parameter `{param.arg_name}` is documented without a description")
    return params, problems


def _summary(parsed: docstring_parser.Docstring) -> str:
    """The first paragraph, also when it wraps over several lines."""
    summary = parsed.short_description or ""
    if parsed.long_description and not parsed.blank_after_short_description:
        summary += " " + parsed.long_description.split("\n\n", 1)[0]
    return _one_line(summary)


def _first_paragraph(text: str) -> str:
    lines: list[str] = []
    for line in text.splitlines():
        if not line.strip() or _SECTION_START.match(line):
            break
        lines.append(line)
    return _one_line(" ".join(lines))


def _one_line(text: str) -> str:
    return " ".join(text.split())
