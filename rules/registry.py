"""Detector types register themselves: their name in rule files, the sources they read, their
options and whether they are instant, with a builder that checks the options. The loader looks a
type up here instead of keeping a table of its own, so a new detector is one class in one place."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, TypeVar

Fail = Callable[[str, str], None]
"""`fail(option, message)`: report a bad option of the detector (the loader adds file:line)."""


class Buildable(Protocol):
    type: str
    instant: bool

    @classmethod
    def from_options(cls, spec: Mapping[str, Any], fail: Fail) -> Any: ...


@dataclass(frozen=True)
class DetectorType:
    type: str
    sources: tuple[str, ...]
    options: frozenset[str]
    instant: bool
    """Instant detectors report occurrences (take `resolve_after`); the others report a
    condition (take `for`)."""
    build: Callable[[Mapping[str, Any], Fail], Any]


REGISTRY: dict[str, DetectorType] = {}

T = TypeVar("T", bound="type[Buildable]")


def register(*, sources: tuple[str, ...], options: tuple[str, ...] = ()) -> Callable[[T], T]:
    """Class decorator: the class's `type`, `instant` and `from_options` make its entry."""
    def add(cls: T) -> T:
        REGISTRY[cls.type] = DetectorType(type=cls.type, sources=sources, options=frozenset(options),
                                          instant=cls.instant, build=cls.from_options)
        return cls
    return add
