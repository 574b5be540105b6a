/*
 * /wrapper in an image built without `deno compile` (which needs a denort
 * download this project cannot make): execs the Deno beside it on the
 * wrapper's bundle, with the flags `deno task compile` would bake in. No
 * shell; the environment changes only where Deno could not start (below).
 * The wrapper replaces this process, so it is still PID 1 and gets every
 * signal itself. Its own failures (no Deno, no main.js) exit 125.
 *
 * Layout, wherever it is installed: <dir>/wrapper (this), <dir>/wrapper-runtime/deno,
 * <dir>/wrapper-runtime/app/js/main.js (the wrapper bundled, LogTape in it: no
 * config, no npm package, nothing to download).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Exit code when the wrapper cannot be started: the job did not start. */
#define EXIT_NOT_STARTED 125

static const char *const FLAGS[] = {
    "run", "--no-prompt", "--no-config", "--no-lock", "--no-npm", "--no-remote",
    "--allow-run", "--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi",
};
#define NFLAGS (sizeof FLAGS / sizeof FLAGS[0])

/* True when the variable is unset or empty. */
static int unset(const char *name) {
  const char *value = getenv(name);
  return value == NULL || *value == '\0';
}

static int fail(const char *what, const char *path) {
  fprintf(stderr, "wrapper: %s %s: %s\n", what, path, strerror(errno));
  return EXIT_NOT_STARTED;
}

/*
 * Every file the bundle's FILES lists is readable: a partial copy of the
 * wrapper stops here (125, one line), before Deno could stop half-way
 * through loading it (exit 1).
 */
static int check_bundle(const char *js) {
  static char list[PATH_MAX + 128], path[PATH_MAX + 384], name[256];
  snprintf(list, sizeof list, "%s/FILES", js);
  FILE *files = fopen(list, "r");
  if (!files) return fail("cannot read", list);
  struct stat info;
  while (fgets(name, sizeof name, files)) {
    name[strcspn(name, "\r\n")] = '\0';
    if (*name == '\0') continue;
    snprintf(path, sizeof path, "%s/%s", js, name);
    if (access(path, R_OK) != 0 || stat(path, &info) != 0) {
      fclose(files);
      return fail("cannot read", path);
    }
    if (!S_ISREG(info.st_mode)) {
      fclose(files);
      errno = EISDIR;
      return fail("cannot read", path);
    }
  }
  int failed = ferror(files);
  fclose(files);
  if (failed) return fail("cannot read", list);
  return 0;
}

int main(int argc, char **argv) {
  static char dir[PATH_MAX], deno[PATH_MAX + 64], js[PATH_MAX + 64],
      main_js[PATH_MAX + 128];
  ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
  if (n <= 0) return fail("cannot find itself through", "/proc/self/exe");
  dir[n] = '\0';
  *strrchr(dir, '/') = '\0';
  snprintf(deno, sizeof deno, "%s/wrapper-runtime/deno", dir);
  snprintf(js, sizeof js, "%s/wrapper-runtime/app/js", dir);
  snprintf(main_js, sizeof main_js, "%s/main.js", js);
  if (check_bundle(js) != 0) return EXIT_NOT_STARTED;
  /* Deno needs a cache folder to name, even unused, and stops at an empty
   * one: HOME gives one, and Kubernetes and podman always set it. Only when
   * DENO_DIR, XDG_CACHE_HOME and HOME are all unset or empty is DENO_DIR set
   * (the job sees it: the README says so). */
  if (unset("DENO_DIR")) unsetenv("DENO_DIR");
  if (unset("XDG_CACHE_HOME")) unsetenv("XDG_CACHE_HOME");
  if (unset("DENO_DIR") && unset("XDG_CACHE_HOME") && unset("HOME")) {
    setenv("DENO_DIR", "/nonexistent", 1);
  }
  char **args = calloc((size_t)argc + NFLAGS + 3, sizeof *args);
  if (!args) return fail("out of memory for", "arguments");
  size_t i = 0;
  args[i++] = deno;
  for (size_t f = 0; f < NFLAGS; f++) args[i++] = (char *)FLAGS[f];
  args[i++] = main_js;
  for (int a = 1; a < argc; a++) args[i++] = argv[a];
  execv(deno, args);
  return fail("cannot run", deno);
}
