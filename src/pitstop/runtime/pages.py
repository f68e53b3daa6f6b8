"""pitstop's HTML pages (the quality report, the feature catalog) rendered from the Jinja2 templates in
``pitstop/templates``. Autoescape is on for every template: a value is escaped where the page uses it, and
``None`` renders as nothing. The pages share one stylesheet (``pitstop.css``), inlined so each page stays one
self-contained file.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


def _blank_none(value: Any) -> Any:
    return "" if value is None else value


@cache
def environment() -> jinja2.Environment:
    """The templates' environment (built once): package templates, autoescape, strict undefined names."""
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("pitstop", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, finalize=_blank_none, trim_blocks=True,
                              lstrip_blocks=True)


def render(template: str, **context: Any) -> str:
    """The template ``template`` (a file in pitstop/templates) rendered with ``context``."""
    return environment().get_template(template).render(**context)
