/* store_local.c — placeholder: the local-directory backend lands with the pipeline issue. */
#include "store.h"

int cai_store_open_local(const char *root, cai_store **out, cai_err *err) {
    *out = NULL;
    return cai_seterr(err, CAI_EARG, "store '%s': local store is not built yet", root);
}
