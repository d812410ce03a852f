-- agent_drain.lua — an operator's drain (1) or undrain (0). ARGV: inst now id drain
-- Drained: drained_at set (the first drain's time kept), the status resolved by commit()
-- (draining unless offline or failed). Undrained: a draining status goes back to what the agent
-- reported last. The reply's `created` says whether drained_at changed.
local now = tonumber(ARGV[2])
local id = ARGV[3]
local drain = ARGV[4] == '1'
local a = aget(id)
if not a then return reply(NOT_FOUND, 'agent not found') end
local changed, before = 0, a.st
if drain and a.dra == 0 then
    a.dra = now > 0 and now or 1
    changed = 1
elseif not drain and a.dra ~= 0 then
    a.dra = 0
    if a.st == A_DRAINING then a.st = a.rep end
    changed = 1
end
aput(a)
commit()
F.status(now, id, before, a.st)
return reply(OK, nil, {created = changed, agent = a, abefore = before})
