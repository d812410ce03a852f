"""_fleet.py — provider quotas (docs/fleet.md): define, list, read and delete them. The task and
agent members that go with them (est_tokens, usage, reason/retry_after_ms, quota_scopes) are
arguments of submit_task, complete_task/fail_task and register_agent (_ops.py)."""

from typing import Any, Dict, List, Optional

from ._ops import Call, _seg, operation
from .types import Tenant


class FleetOperations:
    """Provider quotas. Quotas are plain dicts as the API shows them (QuotaJSON)."""

    @operation
    def put_quota(self, quota_id: str, provider: str, *, model: Optional[str] = None,
                  key_id: Optional[str] = None, rpm: Optional[int] = None,
                  tpm: Optional[int] = None, max_in_flight: Optional[int] = None):
        """Define (or replace, keeping its live counts) a provider quota (admin token). Limits
        left None are no limit. Returns the quota with its live headroom."""
        body: Dict[str, Any] = {"id": quota_id,
                                "scope": {"provider": provider, "model": model,
                                          "key_id": key_id},
                                "rpm": rpm, "tpm": tpm, "max_in_flight": max_in_flight}
        _, data = yield Call("POST", "/quotas", body=body)
        return data

    @operation
    def list_quotas(self):
        """Every quota with its live headroom (requests/tokens left in the window, in flight,
        paused_until, concurrency_limit), sorted by id."""
        _, data = yield Call("GET", "/quotas")
        return list(data.get("quotas", []))

    @operation
    def get_quota(self, quota_id: str):
        """One quota with its live headroom, or None when unknown."""
        status, data = yield Call("GET", "/quotas/" + _seg(quota_id), ok_404=True)
        return None if status == 404 else data

    @operation
    def delete_quota(self, quota_id: str):
        """Delete a quota (admin token). True, or False when unknown."""
        status, _ = yield Call("DELETE", "/quotas/" + _seg(quota_id), ok_404=True)
        return status != 404

    # ---- tenants (fair share, docs/api.md "Tenants")

    @operation
    def list_tenants(self):
        """Every tenant the store knows (configured, or having tasks) as Tenant, by id."""
        _, data = yield Call("GET", "/tenants")
        return [Tenant.from_json(t) for t in data.get("tenants", [])]

    @operation
    def get_tenant(self, tenant_id: str):
        """A Tenant, or None when the store knows no such tenant."""
        status, data = yield Call("GET", "/tenants/" + _seg(tenant_id), ok_404=True)
        return None if status == 404 else Tenant.from_json(data)

    @operation
    def set_tenant(self, tenant_id: str, weight: int = 1, max_in_flight: int = 0):
        """Set a tenant's weight (its share of each priority band relative to the others') and
        max_in_flight (0: no limit); admin token. Returns the Tenant after."""
        _, data = yield Call("PUT", "/tenants/" + _seg(tenant_id),
                             body={"weight": weight, "max_in_flight": max_in_flight})
        return Tenant.from_json(data)

    @operation
    def delete_tenant(self, tenant_id: str):
        """Back to weight 1 without a limit (admin token): the Tenant after, or None when it
        was never set."""
        status, data = yield Call("DELETE", "/tenants/" + _seg(tenant_id), ok_404=True)
        return None if status == 404 else Tenant.from_json(data)


__all__: List[str] = ["FleetOperations"]
