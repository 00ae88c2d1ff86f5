"""The rules engine: pure functions of (record, now) -> alert changes.

Nothing in this package performs I/O, reads a clock, or imports the Kubernetes client or
`requests`. The watcher feeds it `Record`s and the time; notifiers read only `Alert`.
"""
from rules.alert import Alert, AlertStatus
from rules.model import (
    ContainerInfo,
    EndpointAddress,
    EndpointsInfo,
    EventInfo,
    PodInfo,
    Record,
    Termination,
)

__all__ = [
    "Alert",
    "AlertStatus",
    "ContainerInfo",
    "EndpointAddress",
    "EndpointsInfo",
    "EventInfo",
    "PodInfo",
    "Record",
    "Termination",
]
