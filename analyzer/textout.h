/* textout.h - writing the dump's arbitrary bytes (program paths, command
 * lines, symbol names) into formats that must stay valid: JSON strings and
 * XML text. Shared by stats, plot and report. Byte counts as text are
 * common/hs_text.h's (one formatter for the CLI and the library). */
#ifndef HS_TEXTOUT_H
#define HS_TEXTOUT_H

#include <stddef.h>
#include <stdio.h>

/* Length of the valid UTF-8 sequence starting at p (1..4), or 0 when the
 * bytes there are not UTF-8 (overlong forms, surrogates, > U+10FFFF). */
size_t hs_utf8_sequence_len(const unsigned char *p);
/* A quoted JSON string: control bytes as \u00XX, invalid UTF-8 as U+FFFD. */
void hs_put_json_string(FILE *out, const char *s);
/* XML character data / attribute text: markup escaped, control bytes and
 * invalid UTF-8 as '?'. */
void hs_put_xml_text(FILE *out, const char *s);

#endif
