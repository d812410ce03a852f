-- claim_release.lua — undo the claims whose replies this process lost (redis_fence.c), in one
-- call after it reconnected. ARGV: inst (agent token)...: each task still claimed by that agent
-- with that claim token (task_claim.lua keeps it as `ctk`) goes back to pending as RELEASE puts
-- it back: its old place (the front of its band), attempt - 1, no retry counted, the agent's
-- in-flight count and current task as before the claim. Whatever the order in which Redis ran
-- the lost claim and this call's connection epoch, a claim that ran before is undone here and
-- one that runs after is refused (begin()): no task stays claimed by an agent that never heard
-- of it. Idempotent: a pair that matches nothing (never ran, refused, released, started,
-- finished, timed out) does nothing.
local events = {}
for i = 2, #ARGV - 1, 2 do
    local aid, token = ARGV[i], ARGV[i + 1]
    for _, tid in ipairs(call('ZRANGE', P .. 'af:' .. aid, 0, -1)) do
        local t = tget(tid)
        if t and t.st == T_CLAIMED and t.ag == aid and t.ctk == token then
            agent_leave(t, nil, 0)
            t.st = T_PENDING
            t.att = t.att - 1
            t.ag, t.clat, t.stat = nil, 0, 0
            t.qm, t.qs = t.pqm, t.pqs
            tput(t)
            events[#events + 1] = event(E_REQUEUED, aid, t)
        end
    end
end
commit()
return reply(OK, nil, {events = events})
