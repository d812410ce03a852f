-- agent_get.lua — one agent. ARGV: inst id
local a = aget(ARGV[2])
if not a then return reply(NOT_FOUND, 'agent not found') end
return reply(OK, nil, {agent = a})
