/* cmd_mpi.c — `cai mpi ...`: exec cai-mpi, the MPI engine, which is linked on its own (src/engine/mpi.c,
 * built with mpicc) so that `cai` and the Lambda package carry no MPI. exec keeps the process, its pid and
 * its environment, so under mpirun or srun the launcher's process becomes the MPI rank. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

int cmd_mpi(int argc, char **argv) {
    /* $CAI_MPI, else cai-mpi beside this executable, else cai-mpi on PATH. */
    char path[PATH_MAX] = "";
    const char *env = getenv("CAI_MPI");
    if (env && *env) snprintf(path, sizeof path, "%s", env);
    else {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 16);
        if (n > 0) {
            path[n] = 0;
            char *slash = strrchr(path, '/');
            if (slash) strcpy(slash + 1, "cai-mpi");
            if (access(path, X_OK) != 0) path[0] = 0;
        } else {
            path[0] = 0;
        }
    }
    char **av = calloc((size_t)argc + 1, sizeof *av);
    if (!av) return 1;
    av[0] = path[0] ? path : "cai-mpi";
    for (int i = 1; i < argc; i++) av[i] = argv[i];
    if (path[0]) execv(path, av);
    else execvp("cai-mpi", av);
    fprintf(stderr, "cai mpi: cannot run %s: %s (build it with `make` — it needs mpicc, Debian package "
                    "libopenmpi-dev — or set CAI_MPI)\n", av[0], strerror(errno));
    free(av);
    return 1;
}
