/* rs_log.c: key=value event lines with a level and a UTC timestamp. */
#include "rs_log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *const level_names[RS_LOG_LEVEL_MAX] = {"debug", "info", "warn", "error",
                                                          "off"};

void rs_log_write(const rs_log *log, rs_log_level level, const char *event, const char *fmt,
                  ...)
{
    if (log == NULL || level < log->min || level >= RS_LOG_OFF)
        return;
    FILE *out = log->out ? log->out : stderr;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[2048];
    int n = snprintf(line, sizeof(line),
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level], event);
    if (n < 0)
        return;
    size_t used = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if (fmt != NULL && *fmt != '\0' && used + 2 < sizeof(line)) {
        line[used++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
        va_end(ap);
        if (m > 0)
            used += (size_t)m < sizeof(line) - used ? (size_t)m : sizeof(line) - used - 1;
    }
    line[used] = '\0';
    /* One fputs per event keeps lines whole. */
    fprintf(out, "%s\n", line);
    fflush(out);
}

int rs_log_parse_level(const char *s, rs_log_level *out)
{
    for (int i = 0; i < RS_LOG_LEVEL_MAX; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (rs_log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = RS_LOG_WARN;
        return 0;
    }
    return -1;
}
