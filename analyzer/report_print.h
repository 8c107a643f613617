/* report_print.h - `heapscope report`'s two outputs of an analysis
 * (analysis.h): the text report and the JSON object whose keys README.md
 * lists. */
#ifndef HS_REPORT_PRINT_H
#define HS_REPORT_PRINT_H

#include <stdio.h>

#include "analysis.h"

void hs_report_print_text(FILE *out, const hs_analysis_t *a);
/* One JSON object, no newline after it (several make a "dumps" array). */
void hs_report_print_json(FILE *out, const hs_analysis_t *a);

#endif
