-- task_get.lua — one task, replied as stored (one HMGET, no table built). ARGV: inst id
local t = task_read(ARGV[2])
if not t then return reply(NOT_FOUND, 'task not found') end
return reply(OK, nil, {task_raw = raw_task(t)})
