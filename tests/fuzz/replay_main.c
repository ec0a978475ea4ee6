/* replay_main.c -- runs a fuzz target's LLVMFuzzerTestOneInput over files.
 *
 * Linked with each target in the normal build (no clang, no libFuzzer), so
 * that every corpus file, crash inputs included, is replayed as an ordinary
 * test. Arguments are files or directories (every regular file in them, in
 * name order). A directory with no files is an error: a wrong path must not
 * pass as an empty corpus. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPLAY_MAX_FILE (1024 * 1024) /* bytes of one input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs one file. Returns 0, or -1 if it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    buf = malloc(REPLAY_MAX_FILE + 1);
    if (buf == NULL) abort();
    n = fread(buf, 1, REPLAY_MAX_FILE + 1, f);
    fclose(f);
    if (n > REPLAY_MAX_FILE) {
        fprintf(stderr, "replay: %s: larger than %d bytes\n", path, REPLAY_MAX_FILE);
        free(buf);
        return -1;
    }
    /* An exact-size copy, so that ASan sees reads past the end. */
    uint8_t *exact = malloc(n ? n : 1);
    if (exact == NULL) abort();
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir. Returns the number run, or -1. */
static long replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    long done = 0;

    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (nn == NULL) abort();
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (names[n] == NULL) abort();
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(path) != 0)
                done = -1;
            else if (done >= 0)
                done++;
        }
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv)
{
    long total = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long n;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        n = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : (replay_file(argv[i]) == 0 ? 1 : -1);
        if (n <= 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], n == 0 ? "no files" : "unreadable input");
            return 1;
        }
        total += n;
    }
    printf("replayed %ld input(s)\n", total);
    return 0;
}
