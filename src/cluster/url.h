/* url: where Redis is, as given to --redis. Two forms only:
 *   redis://HOST:PORT[/DB]   HOST a name, an IPv4 address or [IPv6];
 *                            PORT 1..65535; DB 0..65535 (default 0)
 *   unix:PATH                a Unix socket, PATH shorter than 108 bytes
 * Pure parsing, no I/O, so the command line can check it before anything
 * starts. */
#ifndef SP_CLUSTER_URL_H
#define SP_CLUSTER_URL_H

#define SP_REDIS_HOST_MAX 256
#define SP_REDIS_PATH_MAX 108 /* sizeof(sun_path) on Linux */

typedef struct sp_redis_url {
  int is_unix;
  char host[SP_REDIS_HOST_MAX]; /* without the IPv6 brackets */
  int port;
  int db;
  char path[SP_REDIS_PATH_MAX];
} sp_redis_url;

/* Fills *out from s. Returns 0, or UV_EINVAL with a short reason in
 * *why (a static string) when s is not one of the two forms. */
int sp_redis_url_parse(const char *s, sp_redis_url *out, const char **why);

/* Writes the URL back in its canonical form, for logs. */
void sp_redis_url_format(const sp_redis_url *u, char *out, unsigned long len);

#endif
