/*
 * rs_log.h: one logging macro with levels. Every event is one line on the
 * logger's stream (stderr by default) in key=value form:
 *
 *   ts=2026-11-22T02:00:00.123Z level=info event=listening addr=127.0.0.1:7480
 *
 * A logger is a small struct owned by the program's context and passed down;
 * there is no process-wide logger. A NULL logger discards everything.
 */
#ifndef RS_LOG_H
#define RS_LOG_H

#include <stdio.h>

typedef enum rs_log_level {
    RS_LOG_DEBUG,
    RS_LOG_INFO,
    RS_LOG_WARN,
    RS_LOG_ERROR,
    RS_LOG_OFF,
    RS_LOG_LEVEL_MAX
} rs_log_level;

typedef struct rs_log {
    rs_log_level min; /* events below this level are dropped */
    FILE *out;        /* NULL means stderr */
} rs_log;

/* Write one event: `event` is the event name, `fmt` the rest of the line as
 * key=value pairs (printf-style). Values with spaces should be quoted. */
void rs_log_write(const rs_log *log, rs_log_level level, const char *event, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* Parse "debug", "info", "warn", "error" or "off". Returns -1 if unknown. */
int rs_log_parse_level(const char *s, rs_log_level *out);

#define RS_LOG(log, level, event, ...)                                                         \
    do {                                                                                       \
        const rs_log *rs_log_l_ = (log);                                                       \
        if (rs_log_l_ != NULL && (level) >= rs_log_l_->min)                                    \
            rs_log_write(rs_log_l_, (level), (event), __VA_ARGS__);                            \
    } while (0)

#endif /* RS_LOG_H */
