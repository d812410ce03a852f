-- agent_unregister.lua — delete an agent; its claimed/running tasks go back to pending (no
-- retry counted, no backoff; each attempt recorded as removed). ARGV: inst now id
local now = tonumber(ARGV[2])
local id = ARGV[3]
local a = aget(id)
if not a then return reply(NOT_FOUND, 'agent not found') end
local events = {}
local before = a.st
F.change(F.UNREGISTERED, now, id, nil, nil, before, nil)
for _, tid in ipairs(call('ZRANGE', P .. 'af:' .. id, 0, -1)) do
    local t = tget(tid)
    if t and active(t.st) and t.ag == id then
        local was = t.st
        hist_add(t, O_REMOVED, now)
        requeue(t, now)
        tput(t)
        events[#events + 1] = event(E_REQUEUED, id, t, nil, was)
        F.task(F.REQUEUED, now, t, was, id)
    end
end
adel(id)
commit()
return reply(OK, nil, {events = events, abefore = before})
