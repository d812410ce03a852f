-- agent_register.lua — insert an agent, or replace a registered one's fields (counters,
-- registered_at, health and an operator's drain kept). ARGV: inst now id model? provider?
-- metadata? probe? max quota_scopes caps... (quota_scopes: packed by QT.scopes_enc(), "": none)
local now = tonumber(ARGV[2])
local id = ARGV[3]
local a = aget(id)
local created = 0
local before = a and a.st
if not a then
    created = 1
    a = {id = id, reg = now, la = 0, inf = 0, tc = 0, tf = 0, ls = '0', lc = 0, hs = H_UNKNOWN,
         hlc = 0, hcf = 0, hcs = 0, hlat = '-1', hci = C_CLOSED, hcif = 0, hco = 0, hoa = 0,
         hra = 0, dra = 0}
end
a.caps = caps_enc(argv_list(10))
a.qsc = ARGV[9] ~= '' and ARGV[9] or nil
a.model = opt(ARGV[4]) or 'unknown'
a.prov = opt(ARGV[5]) or 'unknown'
a.md = opt(ARGV[6]) or '{}'
a.probe = opt(ARGV[7])
a.mc = tonumber(ARGV[8])
a.st = A_READY -- resolved by commit(): draining while drained (dra is kept)
a.rep = A_READY
a.hb = now
aput(a)
commit() -- agent_norm() there: ready with tasks in flight at the maximum is busy
F.change(F.REGISTERED, now, id, nil, nil, before, a.st)
return reply(OK, nil, {created = created, agent = a, abefore = before})
