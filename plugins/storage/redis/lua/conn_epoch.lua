-- conn_epoch.lua — raise this process's connection epoch to the one in ARGV[1] (redis_fence.c):
-- the first call on every new command connection, before any operation. ARGV: inst:epoch ttl_s.
-- begin() has already refused it if a newer connection of this process raised the epoch (the
-- epoch is never lowered); else it is the newest, and from now on calls carrying an older one
-- are refused. The key expires ttl_s after the last raise.
local epoch = string.sub(ARGV[1], string.find(ARGV[1], ':', 1, true) + 1)
call('SET', P .. 'conn:' .. INST, epoch, 'EX', ARGV[2])
return reply(OK)
