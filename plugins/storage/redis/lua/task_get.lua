-- task_get.lua — one task. ARGV: inst id
local t = tget(ARGV[2])
if not t then return reply(NOT_FOUND, 'task not found') end
return reply(OK, nil, {task = t})
