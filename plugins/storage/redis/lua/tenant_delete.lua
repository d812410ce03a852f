-- tenant_delete.lua — a tenant back to weight 1 without a limit (its counters stay). ARGV: inst id
local k = P .. 'tn:' .. ARGV[2]
if call('HGET', k, 'cfg') ~= '1' then return reply(NOT_FOUND, 'tenant not found') end
call('HDEL', k, 'w', 'm', 'cfg')
return reply(OK, nil, {tenants = {TN.entry(ARGV[2], nil)}})
