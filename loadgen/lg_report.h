/*
 * lg_report.h: results out of a run: the JSON document, and the text, CSV
 * and HTML views of it.
 *
 * The JSON document is the single source: the text summary, the CSV rows
 * and the HTML report are all rendered from it, so `compare` (which reads
 * two saved documents) renders exactly what a live run prints.
 *
 *   lg_engine --lg_report_build--> json_t --+--> text (stdout)
 *                                           +--> --json FILE
 *                                           +--> --csv FILE (per-second rows)
 *                                           +--> --html FILE (inline SVG)
 */
#ifndef LG_REPORT_H
#define LG_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "lg_engine.h"

/* Percentiles of the spectrum, in report order. */
#define LG_REPORT_NPCT 6
extern const double lg_report_pcts[LG_REPORT_NPCT];          /* 50 .. 100 */
extern const char *const lg_report_pct_keys[LG_REPORT_NPCT]; /* "p50_us" .. "max_us" */

/* Build the result document of a finished run. Returns a new reference
 * (caller json_decref's it), or NULL on out of memory. */
json_t *lg_report_build(const lg_engine *e, const char *target_url, const char *label);
/* Print the summary of a result document. */
void lg_report_text(FILE *out, const json_t *doc);
/* Write files; each returns 0, or -1 with a message on stderr. */
int lg_report_write_json(const char *path, const json_t *doc);
int lg_report_write_csv(const char *path, const json_t *doc);
/* One to four runs on one chart (p99 and max per second) and one table. */
int lg_report_write_html(const char *path, const json_t *const *docs, int n);
/* `readstate-loadgen compare A.json B.json [--html out.html]`. Returns the
 * exit status. */
int lg_compare_main(int argc, char **argv);
/* `readstate-loadgen field FILE key.key`: print one value. Returns the exit
 * status. */
int lg_field_main(int argc, char **argv);

#endif /* LG_REPORT_H */
