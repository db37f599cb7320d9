/* iptable: open connections in all and per client address, for
 * --max-conns and --max-conns-per-ip, shared by every loop (one mutex).
 * A chained hash table keyed by the 16-byte address (IPv4 mapped into
 * IPv6), with an entry only while an address has connections. */
#ifndef SP_IPTABLE_H
#define SP_IPTABLE_H

#include <stdint.h>
#include <sys/socket.h>

typedef struct sp_iptable sp_iptable;

typedef struct sp_iptable_key {
  uint8_t b[16];
} sp_iptable_key;

/* The key of a peer address (AF_INET or AF_INET6; anything else is the
 * all-zero key). */
void sp_iptable_key_from(sp_iptable_key *k, const struct sockaddr *sa);

sp_iptable *sp_iptable_new(void);
void sp_iptable_free(sp_iptable *t);
/* Counts one more connection of k; returns the new count for k and sets
 * *total to the count of all addresses, or returns -1 when out of memory
 * (then nothing was counted). */
int sp_iptable_inc(sp_iptable *t, const sp_iptable_key *k, int *total);
/* Counts one connection of k less. */
void sp_iptable_dec(sp_iptable *t, const sp_iptable_key *k);

#endif
