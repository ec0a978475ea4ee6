/* procstats.c -- process metrics from /proc/self and getrusage (see
 * procstats.h). */
#include "procstats.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Reads a small /proc file into buf (NUL-terminated); bytes read or -1. */
static long read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    size_t n;
    if (f == NULL) return -1;
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

/* The system's boot time (unix seconds), from /proc/stat's btime; 0 if unknown. */
static unsigned long long boot_time(void)
{
    static char buf[16384];
    const char *p;
    if (read_small("/proc/stat", buf, sizeof buf) < 0 || (p = strstr(buf, "\nbtime ")) == NULL)
        return 0;
    return strtoull(p + 7, NULL, 10);
}

static void gauge(pc_buf *o, const char *name, const char *type, const char *help, double v)
{
    pc_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

void gw_procstats_render(pc_buf *o)
{
    char stat[1024];
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    struct rlimit rl;
    struct rusage ru;
    DIR *d;

    /* CPU time from getrusage: microseconds, where /proc/self/stat counts
     * clock ticks (10 ms) */
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        gauge(o, "process_cpu_seconds_total", "counter",
              "Total user and system CPU time spent in seconds.",
              (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                  (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);

    /* /proc/self/stat: fields after the command's closing ')': state is
     * field 3; starttime 22 (clock ticks after boot), rss 24 (pages). */
    if (read_small("/proc/self/stat", stat, sizeof stat) > 0 && tick > 0) {
        const char *p = strrchr(stat, ')');
        unsigned long long f[25] = {0};
        int i = 3;
        if (p != NULL) {
            p += 2; /* ") " */
            while (i <= 24 && *p) {
                while (*p == ' ') p++;
                f[i] = strtoull(p, (char **)&p, 10);
                if (i == 3) /* the state letter */
                    while (*p && *p != ' ') p++;
                i++;
            }
        }
        if (i > 24) {
            unsigned long long bt = boot_time();
            gauge(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                  (double)f[24] * (double)page);
            if (bt > 0)
                gauge(o, "process_start_time_seconds", "gauge",
                      "Start time of the process since unix epoch in seconds.",
                      (double)bt + (double)f[22] / (double)tick);
        }
    }
    if ((d = opendir("/proc/self/fd")) != NULL) {
        struct dirent *e;
        long n = 0;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.') n++;
        closedir(d);
        gauge(o, "process_open_fds", "gauge", "Number of open file descriptors.",
              (double)(n - 1)); /* the directory's own */
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        gauge(o, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
              (double)rl.rlim_cur);
}
