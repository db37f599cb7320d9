/* text: small character helpers shared by the parsers. */
#ifndef SP_TEXT_H
#define SP_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* The value of a hexadecimal digit, or -1 (for %XX decoding). */
int sp_hex_digit(char c);

/* Decodes one UTF-8 sequence at s (len bytes available) into *cp and
 * returns its length, or 0 when it is not valid UTF-8 (an overlong form, a
 * surrogate, beyond U+10FFFF, or cut short). */
size_t sp_utf8_next(const unsigned char *s, size_t len, uint32_t *cp);
/* True when all len bytes are valid UTF-8. */
int sp_utf8_valid(const void *data, size_t len);
/* The length of the longest prefix of the UTF-8 string s that is at most
 * max bytes and ends at a character boundary. */
size_t sp_utf8_prefix(const char *s, size_t max);

#endif
