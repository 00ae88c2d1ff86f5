"""The pages of one paged LIST, each next page fetched while the caller works on this one.

A LIST of a big cluster is a few hundred pages, and each page has two costs: the apiserver
reading and encoding it, and us normalising and handing on its objects. Done one after the
other (as client-go's pager does) the two costs add up; a page's continue token is known as
soon as the page is parsed, so the next request can be in flight while this page's objects are
handled, and the two overlap. One page ahead is enough for that, keeps memory at two pages,
and keeps one request in flight at a time (the watcher's stop shuts down exactly that one).

An error fetching the next page surfaces where the caller asks for it, after every object of
the pages before it was handed on: the same order of events as without the look-ahead.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

Page = dict[str, Any]


def continue_token(page: Page) -> str:
    meta = page.get("metadata") or {}
    return str(meta.get("continue") or "") if isinstance(meta, dict) else ""


def pages_ahead(fetch: Callable[[str], Page], *, name: str) -> Iterator[Page]:
    """Yield `fetch("")`, then `fetch(token)` for each page's continue token until a page has
    none; page N+1 is requested before page N is yielded. Closing the iterator early waits for
    the request in flight (the caller's stop interrupts it)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"list-{name}") as ahead:
        page = fetch("")
        while True:
            token = continue_token(page)
            following = ahead.submit(fetch, token) if token else None
            yield page
            if following is None:
                return
            page = following.result()
