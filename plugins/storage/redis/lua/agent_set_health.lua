-- agent_set_health.lua — store the host's health verdict (whole) and maybe a new status.
-- ARGV: inst id status expect hs hlc hcf hcs hlat herr? hci hcif hco hoa hra
local id = ARGV[2]
local status = tonumber(ARGV[3])
local expect = tonumber(ARGV[4])
local a = aget(id)
if not a then return reply(NOT_FOUND, 'agent not found') end
local hs, hci = tonumber(ARGV[5]), tonumber(ARGV[11])
if hs < 0 or hs > 4 or hci < 0 or hci > 2 or status > A_FAILED then
    return reply(INVALID, 'invalid health or status')
end
local st0, hs0, hci0 = a.st, a.hs, a.hci
a.hs = hs
a.hlc = tonumber(ARGV[6])
a.hcf = tonumber(ARGV[7])
a.hcs = tonumber(ARGV[8])
a.hlat = ARGV[9]
a.herr = opt(ARGV[10])
a.hci = hci
a.hcif = tonumber(ARGV[12])
a.hco = tonumber(ARGV[13])
a.hoa = tonumber(ARGV[14])
a.hra = tonumber(ARGV[15])
-- The new status is resolved by commit() (agent_norm(): draining while drained).
if status >= 0 and (expect < 0 or a.st == expect) then a.st = status end
aput(a)
commit() -- agent_norm() there
if a.hs ~= hs0 or a.hci ~= hci0 then
    F.change(F.HEALTH, a.hlc, id, nil, nil, hs0, a.hs, hci0, a.hci)
end
F.status(a.hlc, id, st0, a.st)
return reply(OK, nil, {agent = a, abefore = st0})
