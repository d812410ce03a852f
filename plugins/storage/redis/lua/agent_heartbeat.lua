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
-- While its probe fails, a heartbeat keeps the agent alive but cannot make it usable: a failed
-- or offline agent with a failing probe is (back to) failed.
if a.probe and a.hs == H_UNHEALTHY and (a.st == A_FAILED or a.st == A_OFFLINE) then
    a.st = A_FAILED
elseif status < 0 then
    if a.st == A_OFFLINE then a.st = A_READY end
else
    a.st = status
end
aput(a)
commit()
return reply(OK, nil, {agent = a})
