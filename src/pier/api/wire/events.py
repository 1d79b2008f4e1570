"""Events as dockerd's `events.Message` JSON."""

from __future__ import annotations

from typing import Any

from pier.events import Event


def render_event(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # The deprecated top-level fields, for container and image events (moby's Log).
    if event.type == "container":
        out["status"] = event.action
        out["id"] = event.actor_id
        out["from"] = event.attributes.get("image", "")
    elif event.type == "image":
        out["status"] = event.action
        out["id"] = event.actor_id
    out.update(
        {
            "Type": event.type,
            "Action": event.action,
            "Actor": {"ID": event.actor_id, "Attributes": dict(event.attributes)},
            "scope": event.scope,
            "time": event.time_nano // 1_000_000_000,
            "timeNano": event.time_nano,
        }
    )
    return out
