"""_observe.py — watching the fleet: agents' health, the system's health, /stats, the loaded
plugins and the original dashboard's /queue and /metrics views (mixed into the clients with
Operations)."""

from typing import List, Optional

from ._ops import AGENT_PAGE, Call, _page_query, _seg, operation
from .errors import ControlPlaneError
from .types import AgentInfo, HealthCheck, HealthStatus, PluginInfo, SystemHealth, _enum


class ObserveOperations:
    """Health, stats, plugins."""

    # -- health and stats

    @operation
    def get_agent_health(self, agent_id: str):
        """The agent's HealthCheck, or None for an unknown agent."""
        status, data = yield Call("GET", "/health/" + _seg(agent_id), ok_404=True)
        return None if status == 404 else HealthCheck.from_json(agent_id, data)

    @operation
    def get_health(self, agents: Optional[str] = None, limit: Optional[int] = None,
                   after: Optional[str] = None):
        """SystemHealth: the system status, the storage state, the counts by health and status
        (summary) and agents' health. agents: None or "auto" (the server's choice: every agent
        up to 1000 agents, else the summary form, whose .agents are the degraded and unhealthy
        ones), "summary", or "all" (every agent; without a limit read AGENT_PAGE agents a
        request to the end). limit/after: one page (.next is the following page's after)."""
        query = [("agents", agents)] if agents else []
        if agents != "all" or limit is not None:
            _, data = yield Call("GET", "/health", query=_page_query(query, limit, after))
            return SystemHealth.from_json(data)
        first = None
        while True:
            _, data = yield Call("GET", "/health", query=_page_query(query, AGENT_PAGE, after))
            if first is None:
                first = data
            else:
                first.setdefault("agents", {}).update(data.get("agents") or {})
            nxt = data.get("next")
            if not nxt:
                first["next"] = None
                return SystemHealth.from_json(first)
            if after is not None and nxt <= after:
                raise ControlPlaneError("the server's next does not move forward")
            after = nxt

    @operation
    def get_system_health(self):
        """The system's HealthStatus (healthy, degraded, unhealthy, critical)."""
        _, data = yield Call("GET", "/health")
        return _enum(HealthStatus, data.get("status"))

    @operation
    def is_agent_available(self, agent_id: str):
        """Whether the agent could take work now (AgentInfo.is_available); False when
        unknown."""
        status, data = yield Call("GET", "/agents/" + _seg(agent_id), ok_404=True)
        return status != 404 and AgentInfo.from_json(data).is_available()

    @operation
    def list_plugins(self):
        """The plugins the server loaded (storage, then selection strategies, then probe
        types) as PluginInfo, with the names of their options, never the values."""
        _, data = yield Call("GET", "/plugins")
        return [PluginInfo.from_json(p) for p in data.get("plugins", [])]

    @operation
    def get_stats(self):
        """The /stats object as a dict: stats['registry']['total_agents'],
        stats['scheduler']['pending_tasks'], stats['health']['healthy_count'], ..."""
        _, data = yield Call("GET", "/stats")
        return data

    @operation
    def get_queue(self, limit: Optional[int] = None):
        """GET /queue, the original dashboard's view of the tasks, as a dict: {"jobs": [{"id",
        "type", "name", "status" (queued|running|completed|failed), "progress", "started_at",
        "agents_assigned"}], "total"}, newest first, at most limit (server default 50)."""
        query = [("limit", str(limit))] if limit is not None else None
        _, data = yield Call("GET", "/queue", query=query)
        return data

    @operation
    def get_metrics(self):
        """GET /api/control-plane/metrics, the original dashboard's counters, as a dict:
        active_jobs, queued_jobs, completed_jobs, failed_jobs, agents_available, agents_busy,
        total_agents."""
        _, data = yield Call("GET", "/metrics")
        return data


__all__: List[str] = ["ObserveOperations"]
