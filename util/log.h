/*
 * log.h — single-line key=value log records on stderr.
 *
 *   ts=2026-11-22T10:00:00.123Z level=warn msg="record skipped" input=events.jsonl …
 *
 * The level filter is process-wide (set once at start-up). Values are quoted
 * when they hold spaces, quotes or '='. Nothing here logs per event at info
 * level; callers keep per-event records at debug.
 */
#ifndef CD_UTIL_LOG_H
#define CD_UTIL_LOG_H

#include "util/err.h"

enum cd_log_level { CD_LOG_DEBUG = 0, CD_LOG_INFO = 1, CD_LOG_WARN = 2, CD_LOG_ERROR = 3 };

void cd_log_set_level(int level);
int cd_log_level_parse(const char *s);   /* "debug", "info", "warn", "error"; -1 otherwise */
int cd_log_enabled(int level);

/*
 * Logs msg with key/value pairs: cd_log(CD_LOG_WARN, "record skipped",
 * "input", name, "error", err.msg, NULL). Keys and values are strings;
 * the list ends with NULL.
 */
void cd_log(int level, const char *msg, ...);

#endif
