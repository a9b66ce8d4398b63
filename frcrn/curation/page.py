"""HTML building blocks of the report: one self-contained page (inline CSS, images and audio as
``data:`` URIs, no script) whose Content-Security-Policy forbids every network load, so what the
page shows is exactly what is in the file, on any machine, offline.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence

__all__ = ["CSP", "Raw", "esc", "figure", "page", "section", "table"]

CSP = "default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'"

_STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0;
       background: #fafafa; }
main { max-width: 1150px; margin: 0 auto; padding: 1.2em 1.5em 3em; background: #fff; }
h1 { font-size: 1.6em; margin: 0.2em 0; } h2 { border-bottom: 2px solid #1b9e77; padding-bottom: 0.15em;
     margin-top: 1.8em; } h3 { margin: 1.2em 0 0.3em; font-size: 1.05em; }
nav a { margin-right: 1em; } .sub { color: #555; }
table { border-collapse: collapse; margin: 0.4em 0 0.8em; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.7em 0.25em 0; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.uri { max-width: 34em; overflow-wrap: anywhere; font-family: ui-monospace, monospace; font-size: 0.9em; }
figure { margin: 0.6em 0 1.4em; } figure img { max-width: 100%; height: auto; display: block; }
figcaption, p.legend { color: #555; font-size: 0.88em; margin: 0.2em 0 0; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 0.3em 1.2em; margin: 0.2em 0 1em; }
.pair audio { width: 100%; } .note { color: #a33; }
.in { color: #d95f02; font-weight: 600; } .out { color: #1b9e77; font-weight: 600; }
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: Sequence[int] = (),
          uri: Sequence[int] = ()) -> str:
    """A table; cells are text (escaped) unless wrapped in :class:`Raw`. Columns listed in
    ``numeric`` are right-aligned, those in ``uri`` set in monospace and wrapped anywhere."""
    def cell(i: int, value: object, tag: str) -> str:
        cls = "n" if i in numeric else ("uri" if i in uri and tag == "td" else "")
        text = value.html if isinstance(value, Raw) else esc(value)
        attribute = f' class="{cls}"' if cls else ""
        return f"<{tag}{attribute}>{text}</{tag}>"

    head = "".join(cell(i, h, "th") for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell(i, v, "td") for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Raw:
    """HTML that :func:`table` must not escape."""

    def __init__(self, html_text: str) -> None:
        self.html = html_text


def figure(png: bytes, alt: str, legend: str) -> str:
    """A PNG as an inline image, with its legend under it."""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{legend}</figcaption></figure>")


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole document: ``sections`` are (anchor, title, body HTML), linked from a contents line."""
    nav = " ".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t, _ in sections)
    body = "\n".join(section(a, t, b) for a, t, b in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body><main><h1>{esc(title)}</h1><p class=\"sub\">{subtitle}</p><nav>{nav}</nav>\n{body}\n"
        "</main></body></html>\n"
    )
