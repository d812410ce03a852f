/* log.h — one-line logs to stderr with a UTC timestamp and level. Never log tokens. */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdarg.h>

#include <cp/plugin.h>

void log_set_level(int level); /* enum cp_log_level */
int log_get_level(void);
void log_msg(int level, const char *fmt, ...) CP_PRINTF(2, 3);
void log_vmsg(int level, const char *prefix, const char *fmt, va_list ap);

#define log_debug(...) log_msg(CP_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(CP_LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(CP_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(CP_LOG_ERROR, __VA_ARGS__)

#endif
