-- agent_get.lua — one agent, replied as stored (one HMGET, no table built). ARGV: inst id
local r = agent_raw(ARGV[2])
if not r then return reply(NOT_FOUND, 'agent not found') end
return reply(OK, nil, {agent_raw = r})
