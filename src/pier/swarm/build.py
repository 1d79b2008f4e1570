"""Assembly of the swarm service from the node's own services (called by the Engine,
the composition root, which supplies what lives above this layer: the create-body
parser and the log reader)."""

from __future__ import annotations

from collections.abc import Callable

from pier.containers.names import generate_name
from pier.swarm.agent import NodeAgent
from pier.swarm.ingress import IngressProxy
from pier.swarm.lifecycle import SwarmLifecycle, SwarmSettings
from pier.swarm.logs import LocalLogs, ServiceLogs
from pier.swarm.nodedoc import NodeFacts
from pier.swarm.orchestrator import Orchestrator
from pier.swarm.service import SwarmService
from pier.swarm.taskcontainers import (
    Containers,
    CreateFromBody,
    EventSource,
    PublishedPorts,
    TaskContainers,
)


def build_swarm(
    *,
    settings: SwarmSettings,
    containers: Containers,
    events: EventSource,
    create: CreateFromBody,
    published: PublishedPorts,
    local_logs: LocalLogs,
    facts: Callable[[], NodeFacts],
) -> SwarmService:
    tasks = TaskContainers(containers=containers, events=events, create=create, published=published)
    logs = ServiceLogs(local=local_logs, containers=tasks)
    holder: list[SwarmLifecycle] = []

    def node_logs(task_id: str, query: object) -> object:
        return logs.local_task(holder[0].active(), task_id, query)  # type: ignore[arg-type]

    lifecycle = SwarmLifecycle(
        settings=settings,
        facts=facts,
        agent=lambda session: NodeAgent(session, containers=tasks),
        orchestrator=Orchestrator,
        ingress=IngressProxy,
        logs=node_logs,  # type: ignore[arg-type]
    )
    holder.append(lifecycle)
    return SwarmService(lifecycle=lifecycle, generate_name=generate_name, logs=logs)
