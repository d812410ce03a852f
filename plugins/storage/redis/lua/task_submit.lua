-- task_submit.lua — store a new task: pending, pending_since = created_at, nothing assigned
-- (the members of the input that describe a later state are not taken).
-- ARGV: inst id type payload pr cat to mr re att md? strat? caps...
local id = ARGV[2]
local cur = tget(id)
if cur then return reply(CONFLICT, 'a task with this id exists', {task = cur}) end
local cat = tonumber(ARGV[6])
local t = {id = id, type = ARGV[3], pl = ARGV[4], st = T_PENDING, pr = tonumber(ARGV[5]),
           cat = cat, clat = 0, stat = 0, coat = 0, ps = cat, to = tonumber(ARGV[7]),
           mr = tonumber(ARGV[8]), re = tonumber(ARGV[9]), att = tonumber(ARGV[10]),
           md = opt(ARGV[11]) or '{}', strat = opt(ARGV[12]), pou = 0}
t.req = caps_enc(argv_list(13))
t.qk = redis.sha1hex(t.req)
tput(t)
commit()
return reply(OK, nil, {task = t})
