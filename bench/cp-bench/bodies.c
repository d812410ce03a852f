/* bodies.c — request bodies and the claim-reply scan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bodies.h"
#include "client.h"

size_t agent_id(const struct args *a, uint64_t i, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s-%llu", a->prefix, (unsigned long long)i);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static size_t clamp(int n, size_t cap)
{
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t agent_body(const struct args *a, uint64_t i, char *out, size_t cap)
{
    return clamp(snprintf(out, cap,
                          "{\"agent_id\":\"%s-%llu\",\"capabilities\":[\"%s\"],"
                          "\"model\":\"bench\",\"provider\":\"cp-bench\"}",
                          a->prefix, (unsigned long long)i, a->capability),
                 cap);
}

size_t task_body(const struct args *a, int64_t sent_us, char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "{\"task_type\":\"bench\",\"required_capabilities\":[\"%s\"],"
                     "\"payload\":{\"sent_us\":%lld,\"pad\":\"",
                     a->capability, (long long)sent_us);
    size_t len = clamp(n, cap);
    /* The payload so far is {"sent_us":N,"pad":" — about 34 bytes with its closing "}. */
    size_t pad = a->payload_bytes > 34 ? a->payload_bytes - 34 : 0;
    if (len + pad + 3 >= cap) pad = cap > len + 3 ? cap - len - 3 - 1 : 0;
    memset(out + len, 'x', pad);
    len += pad;
    memcpy(out + len, "\"}}", 4);
    return len + 3;
}

size_t claim_body(const struct args *a, uint64_t agent, uint32_t block_ms, char *out, size_t cap)
{
    return clamp(snprintf(out, cap, "{\"agent_id\":\"%s-%llu\",\"block_ms\":%u}", a->prefix,
                          (unsigned long long)agent, block_ms),
                 cap);
}

size_t complete_body(const struct args *a, uint64_t agent, char *out, size_t cap)
{
    if (a->next) /* and claim the next task, held like the claims */
        return clamp(snprintf(out, cap,
                              "{\"agent_id\":\"%s-%llu\",\"result\":{\"ok\":true},"
                              "\"next\":{\"block_ms\":%u}}",
                              a->prefix, (unsigned long long)agent, a->block_ms),
                     cap);
    return clamp(snprintf(out, cap, "{\"agent_id\":\"%s-%llu\",\"result\":{\"ok\":true}}",
                          a->prefix, (unsigned long long)agent),
                 cap);
}

int claim_reply(const char *body, size_t len, char *out, size_t cap, int64_t *sent_us)
{
    return task_reply(body, len, "task", out, cap, sent_us);
}

int task_reply(const char *body, size_t len, const char *key, char *out, size_t cap,
               int64_t *sent_us)
{
    *sent_us = -1;
    const char *t = json_find(body, len, key);
    if (!t) return -1;
    const char *end = body + len;
    if (end - t >= 4 && memcmp(t, "null", 4) == 0) return 0;
    const char *id = json_find(t, (size_t)(end - t), "id");
    if (!id || id >= end || *id != '"') return -1;
    id++;
    const char *q = memchr(id, '"', (size_t)(end - id));
    if (!q || (size_t)(q - id) >= cap) return -1;
    memcpy(out, id, (size_t)(q - id));
    out[q - id] = '\0';
    const char *s = json_find(t, (size_t)(end - t), "sent_us");
    if (s) {
        char num[24];
        size_t k = 0;
        while (s + k < end && k < sizeof num - 1 && (s[k] == '-' || (s[k] >= '0' && s[k] <= '9')))
            k++;
        memcpy(num, s, k);
        num[k] = '\0';
        if (k) *sent_us = strtoll(num, NULL, 10);
    }
    return 1;
}
