/* store_s3.c — placeholder: the S3 backend lands with the AWS issue. */
#include "store.h"

int cai_store_open_s3(const char *url, cai_store **out, cai_err *err) {
    *out = NULL;
    return cai_seterr(err, CAI_EARG, "store '%s': S3 support is not built yet", url);
}
