-- quota_delete.lua — remove a provider quota and its window and reservations (quota.lua).
-- ARGV: inst id
local id = ARGV[2]
if call('SREM', P .. 'quotas', id) == 0 then return reply(NOT_FOUND, 'quota not found') end
call('DEL', P .. 'qt:' .. id, P .. 'qw:' .. id, P .. 'qb:' .. id, P .. 'qr:' .. id)
call('PUBLISH', P .. 'events', 'quota ' .. id .. ' ' .. INST) -- claims it held: room
return reply(OK, nil, {})
