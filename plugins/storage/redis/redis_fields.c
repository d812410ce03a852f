/* redis_fields.c — the hash fields of an agent and of a task in the order the scripts reply a
 * record (A_FIELDS and task_reply() in lua/common.lua), for the HMGET reads of redis_ops.c.
 * tests/test_redis_fields.c checks them against common.lua. */
#include "redis_int.h"

const char *const rs_agent_fields[RS_AGENT_FIELDS] = {
    "id",  "caps", "st",   "model", "prov", "md",  "probe", "reg", "hb",  "la",
    "mc",  "inf",  "cur",  "tc",    "tf",   "ls",  "lc",    "hs",  "hlc", "hcf",
    "hcs", "hlat", "herr", "hci",   "hcif", "hco", "hoa",   "hra", "dra", "rep"};

const char *const rs_task_fields[RS_TASK_FIELDS] = {
    "id", "type", "pl", "req", "st",  "pr",  "cat", "clat",  "stat", "coat", "ps", "ag",
    "to", "mr",   "re", "att", "res", "err", "md",  "strat", "poa",  "pou",  "dl", "x"};
