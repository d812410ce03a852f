-- tenant_put.lua — set a tenant's weight and max_in_flight (tenant.lua). ARGV: inst id w m
local id = ARGV[2]
if id == '' then return reply(INVALID, 'tenant id is required') end
local w = tonumber(ARGV[3]) or 1
if w < 1 then w = 1 end
call('HSET', P .. 'tn:' .. id, 'w', istr(w), 'm', istr(tonumber(ARGV[4]) or 0), 'cfg', '1')
call('SADD', P .. 'tenants', id)
return reply(OK, nil, {tenants = {TN.entry(id, nil)}})
