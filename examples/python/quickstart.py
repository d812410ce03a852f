"""quickstart.py — the Control Plane Guide's Python Quick Start, run against cpd.

Only the import line differs from the guide (`cpclient` instead of `aragora.control_plane`);
the guide's lines run inside `async def main()` because a script cannot `await` at top level.
create_control_plane() talks to $CONTROL_PLANE_URL (default http://127.0.0.1:8080) with
$CONTROL_PLANE_TOKEN. Someone must work on the task: start an agent with the `debate`
capability first, e.g. `python3 examples/python/agent.py --capability debate`.
"""

import asyncio

from cpclient import ControlPlaneCoordinator, create_control_plane


async def main():
    # Create and connect
    coordinator = await create_control_plane()

    # Register an agent
    await coordinator.register_agent(
        agent_id="claude-3",
        capabilities=["debate", "code", "analysis"],
        model="claude-3-opus",
        provider="anthropic",
        metadata={"version": "3.5"}
    )

    # Submit a task
    task_id = await coordinator.submit_task(
        task_type="debate",
        payload={"question": "Should we use microservices?"},
        required_capabilities=["debate"],
    )

    # Wait for result
    result = await coordinator.wait_for_result(task_id, timeout=60.0)
    print(result.result)

    # Shutdown
    await coordinator.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
