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
local r = op_task_transition({unpack(ARGV, 1, 14)})
if r[1] ~= OK then return r end
local cl = {ARGV[1], ARGV[2]}
for i = 15, #ARGV do cl[#cl + 1] = ARGV[i] end
ARGS = cl -- argv_list() reads the claim's capabilities from ARGS
r[8] = op_task_claim(cl)
return r
