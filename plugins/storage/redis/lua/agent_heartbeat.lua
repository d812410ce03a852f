-- agent_heartbeat.lua — liveness and self-reported status. ARGV: inst now id status
local now = tonumber(ARGV[2])
local id = ARGV[3]
local status = tonumber(ARGV[4])
local a = aget(id)
if not a then return reply(NOT_FOUND, 'agent not found') end
if status < -1 or status > A_FAILED or status == A_OFFLINE then
    return reply(INVALID, 'an agent cannot report this status')
end
a.hb = now
if status < 0 then
    if a.st == A_OFFLINE then a.st = A_READY end
elseif not (a.st == A_FAILED and a.hs == H_UNHEALTHY) then
    -- A failed agent whose probe says unhealthy stays failed: its probe decides.
    a.st = status
end
aput(a)
commit()
return reply(OK, nil, {agent = a})
