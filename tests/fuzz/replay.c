/* SPDX-License-Identifier: Apache-2.0
 *
 * replay: runs a libFuzzer target over files, for ctest and for builds without
 * libFuzzer. Each argument is a file or a directory; a directory's regular files and
 * those of its direct subdirectories are replayed. A failing input aborts inside the
 * target, so reaching the summary means every input passed. Paths that cannot be
 * read count as failures.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned passed, failed;

static void replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto fail;
    /* malloc(0) may return NULL; the target gets a valid pointer either way */
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        goto fail;
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    passed++;
    return;
fail:
    fprintf(stderr, "replay: cannot read %s\n", path);
    if (f != NULL)
        fclose(f);
    free(buf);
    failed++;
}

static void replay_path(const char *path, int depth)
{
    struct stat st;
    struct dirent *e;
    DIR *d;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: cannot stat %s\n", path);
        failed++;
        return;
    }
    if (S_ISREG(st.st_mode)) {
        replay_file(path);
        return;
    }
    if (!S_ISDIR(st.st_mode) || depth > 1)
        return;
    if ((d = opendir(path)) == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        failed++;
        return;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        char *sub;

        if (e->d_name[0] == '.' &&
            (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
            continue;
        sub = malloc(len);
        if (sub == NULL) {
            failed++;
            break;
        }
        snprintf(sub, len, "%s/%s", path, e->d_name);
        replay_path(sub, depth + 1);
        free(sub);
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++)
        replay_path(argv[i], 0);
    printf("replay: %u passed, %u failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
