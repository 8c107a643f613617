/* textout.c - escaping for JSON and XML output (see textout.h). */
#include "textout.h"

#include "hs_report_json.h"

/* The JSON and UTF-8 rules are common/hs_report_json.c's (the live service
 * writes JSON with them too). */
size_t hs_utf8_sequence_len(const unsigned char *p) { return hs_json_utf8_len(p); }

static void file_sink(void *ctx, const char *bytes, size_t n) { fwrite(bytes, 1, n, ctx); }

void hs_put_json_string(FILE *out, const char *s) { hs_json_put_string(file_sink, out, s); }

void hs_put_xml_text(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        unsigned char c = *p;
        size_t len;
        if (c == '<')
            fputs("&lt;", out);
        else if (c == '>')
            fputs("&gt;", out);
        else if (c == '&')
            fputs("&amp;", out);
        else if (c == '"')
            fputs("&quot;", out);
        else if (c < 0x20 || c == 0x7f)
            fputc('?', out);
        else if ((len = hs_utf8_sequence_len(p)) > 0) {
            fwrite(p, 1, len, out);
            p += len;
            continue;
        } else
            fputc('?', out);
        p++;
    }
}
