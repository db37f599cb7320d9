/* text: small character helpers shared by the parsers. */
#ifndef SP_TEXT_H
#define SP_TEXT_H

/* The value of a hexadecimal digit, or -1 (for %XX decoding). */
int sp_hex_digit(char c);

#endif
