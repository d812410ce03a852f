/* log.c — one line per message on stderr: "<ISO UTC time> <level> [prefix]message". */
#include "log.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"

static int min_level = CP_LOG_INFO;

static const char *level_name(int level)
{
    switch (level) {
    case CP_LOG_DEBUG:
        return "debug";
    case CP_LOG_INFO:
        return "info";
    case CP_LOG_WARN:
        return "warn";
    default:
        return "error";
    }
}

void log_set_level(int level)
{
    if (level < CP_LOG_DEBUG) level = CP_LOG_DEBUG;
    if (level > CP_LOG_ERROR) level = CP_LOG_ERROR;
    min_level = level;
}

int log_get_level(void)
{
    return min_level;
}

void log_vmsg(int level, const char *prefix, const char *fmt, va_list ap)
{
    if (level < min_level) return;
    /* Build the whole line first and write it with one call, so lines from a child process or
     * a second writer on the same stderr never interleave mid-line. Long messages are cut. */
    char line[2048];
    char ts[32];
    clock_format_iso(clock_now_ms(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "%s %s %s", ts, level_name(level), prefix ? prefix : "");
    if (n < 0) return;
    size_t used = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    int m = vsnprintf(line + used, sizeof line - used, fmt, ap);
    if (m > 0) used += (size_t)m < sizeof line - used ? (size_t)m : sizeof line - used - 1;
    /* A message is one line: a stray newline inside would forge a second log entry. */
    for (size_t i = 0; i < used; i++)
        if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    while (used > 0 && line[used - 1] == ' ')
        used--;
    line[used++] = '\n';
    fwrite(line, 1, used, stderr);
}

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, NULL, fmt, ap);
    va_end(ap);
}
