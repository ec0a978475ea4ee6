/* accesslog.h -- the access log (--access-log, --access-log-format;
 * protocol.md §8.1): one line per response sent on a public listener.
 *
 * Writing never waits for a reader. Lines are formatted straight into one
 * buffer (GW_ALOG_BUFFER bytes; nothing allocated per line) and written
 * once per loop turn, by an event made active when the buffer goes from
 * empty to non-empty. A line that does not fit is dropped and counted
 * (portico_access_log_dropped_total). Every write holds whole lines only:
 *   - a regular file (a path, or stdout/stderr redirected to one) is opened
 *     O_APPEND and written with one write() of all buffered lines, into the
 *     page cache: on Linux local file systems a write to a regular file
 *     holds the inode lock for its whole length, so the lines of --workers
 *     processes never interleave. A short write happens only when the disk
 *     is full or the file size limit is reached; the rest is tried at once
 *     and, failing, counted as dropped. (The loop can only wait here when
 *     the kernel throttles a process that dirties pages faster than the
 *     disk takes them, as nginx's access_log does; a writer thread would
 *     avoid it but cost 8-10% of the requests per second: docs/performance.md);
 *   - a pipe or tty gets writes of whole lines of at most PIPE_BUF bytes
 *     (every line is shorter: accesslog_fmt.h), which a pipe never splits or
 *     interleaves, on a non-blocking file description of its own (opened
 *     through /proc/self/fd, so stdout's own flags are untouched); a socket
 *     gets the same sizes with MSG_DONTWAIT. A full pipe keeps the lines for
 *     when it has room (a write event), new ones past the buffer dropped.
 * SIGUSR1 (gw_accesslog_reopen) writes what is buffered to the old file,
 * then opens the path again: nothing is lost and no line is split between
 * the two files. A reload that names another destination (SPEC §9) switches
 * the same way. */
#ifndef GW_ACCESSLOG_H
#define GW_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "req.h"

#define GW_ALOG_BUFFER (1024 * 1024) /* bytes of lines waiting for a write */

/* True while the log is on (read once per response). */
extern bool gw_accesslog_on;

struct gw_config;

/* The destination as a reloadable part (reload.c's table; also at start and
 * for --check-config). prepare: when next->access_log ("off", "stdout",
 * "stderr" or a path) is not the destination in force, opens it (a path for
 * append, created 0644) into *staged, or returns -1 with one line naming it
 * in err; the same destination stages nothing (the open file stays: SIGUSR1
 * is what reopens). commit: what is buffered is written to the old
 * destination, then the new one is used (at start, before
 * gw_accesslog_start, it is only remembered). discard: closes it unused. */
int gw_accesslog_prepare(const struct gw_config *next, void **staged, char *err, size_t errlen);
void gw_accesslog_commit(void *staged, struct gw_config *cfg);
void gw_accesslog_discard(void *staged);
/* Opens dest in this process (each --workers process opens its own), with
 * the loop running; from then on a reload's commit switches destinations.
 * 0, or -1 with one line in err. "off" or "": nothing. */
int gw_accesslog_start(const char *dest, char *err, size_t errlen);
/* SIGUSR1: buffered lines to the old file, then the path opened again. */
void gw_accesslog_reopen(void);
/* Writes what it can of the buffer, closes, frees. */
void gw_accesslog_stop(void);

/* One line for r's response: bytes_out the whole response, body_out its body.
 * Once per request: a later call for r writes nothing (r->logged). */
void gw_accesslog_response(struct gw_req *r, uint64_t bytes_out, uint64_t body_out);

/* A refused request the parser saw nothing of (its head failed the framing
 * check): its method and target taken from the raw bytes p[0..n) that
 * begin it, when they look like a request line's. */
void gw_accesslog_raw_request_line(struct gw_req *r, const char *p, size_t n);

/* What the request path tells the log as it goes (copied: the route and
 * instance may be gone by the time the response is made). */
void gw_accesslog_note_route(struct gw_req *r, const char *pattern, const char *service);
void gw_accesslog_note_instance(struct gw_req *r, const char *instance);

#endif
