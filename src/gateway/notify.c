/* notify.c -- the systemd notify protocol (see notify.h). */
#include "notify.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_un addr;
static socklen_t addr_len; /* 0: off */
static bool ready_sent;    /* the first READY=1 is out: reloads may be told */

void gw_notify_init(void)
{
    const char *s = getenv("NOTIFY_SOCKET");
    size_t n = s != NULL ? strlen(s) : 0;

    addr_len = 0;
    if (n < 2 || n >= sizeof addr.sun_path || (s[0] != '/' && s[0] != '@')) return;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, s, n);
    if (s[0] == '@') addr.sun_path[0] = '\0'; /* abstract: no terminating NUL counted */
    addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (s[0] == '/'));
}

void gw_notify_disable(void) { addr_len = 0; }

static void send_state(const char *msg)
{
    int fd;

    if (addr_len == 0) return;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    (void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&addr, addr_len);
    close(fd);
}

void gw_notify_ready(void)
{
    ready_sent = true;
    send_state("READY=1");
}

void gw_notify_reloaded(void)
{
    if (ready_sent) send_state("READY=1");
}

void gw_notify_reloading(void)
{
    char msg[64];
    struct timespec ts;

    if (!ready_sent) return; /* not ready yet: the first READY=1 is still to come */

    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u);
    send_state(msg);
}

void gw_notify_stopping(void) { send_state("STOPPING=1"); }
