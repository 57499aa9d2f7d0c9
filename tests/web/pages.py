"""Reading the links out of a page, the way a browser would find them."""

from __future__ import annotations

from html.parser import HTMLParser


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.ids: set[str] = set()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in {"href", "src", "action", "srcset", "poster", "data"} and value is not None:
                self.urls.append(value)
            if name == "id" and value:
                self.ids.add(value)


def read(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def loaded_from_elsewhere(html: str, *, allowed: tuple[str, ...] = ()) -> list[str]:
    """Every URL of the page that is not on this server (nor one of ``allowed``)."""
    return [
        url
        for url in read(html).urls
        if not (url.startswith(("/", "#")) and not url.startswith("//")) and not url.startswith(allowed)
    ]
