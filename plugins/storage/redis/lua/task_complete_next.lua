-- task_complete_next.lua — COMPLETE or FAIL and then, when that succeeded, a claim for the
-- same agent, in one call: the two-request task lifecycle (docs/redis.md). The two steps are
-- the bodies of task_transition.lua and task_claim.lua, defined as op_task_transition(ARGV) and
-- op_task_claim(ARGV) by embed_lua.cmake, so they behave exactly as the two calls would (feed
-- changes: the completion's, then the claim's; the claim token is the claim's).
-- ARGV: task_transition's 14 (inst now kind id agent? result? error? latency requeue
-- pass_over_ms expect_attempt jitter usage? rate_limited?), then task_claim's after its inst and
-- now: agent caps_mode token aging_ms caps...
-- Reply: the transition's (short form: reply() in common.lua); when it succeeded, with the
-- claim's whole reply (short form too) as an 8th member.
-- The feed gets both steps' changes in one message (one INCRBY and one PUBLISH instead of two
-- each): the completion's changes stay in F.buf until the claim's reply() publishes them.
-- Likewise the agent's status counters: summed over both steps, written once (REC.nets).
F.defer, REC.nets = true, {}
local r = op_task_transition({unpack(ARGV, 1, 14)})
F.defer = false
if r[1] ~= OK then
    REC.net_flush()
    F.flush()
    return r
end
local cl = {ARGV[1], ARGV[2]}
for i = 15, #ARGV do cl[#cl + 1] = ARGV[i] end
ARGS = cl -- argv_list() reads the claim's capabilities from ARGS
-- (a claim that fails with an error still publishes the completion's changes, as two calls would)
local ok, cr = pcall(op_task_claim, cl)
REC.net_flush()
if not ok then
    F.flush()
    error(cr)
end
r[8] = cr
return r
