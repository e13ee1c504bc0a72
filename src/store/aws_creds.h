/* aws_creds.h — AWS credentials and Region by the AWS default chain, as the SDKs and the CLI resolve them:
 * environment; AWS_PROFILE (or default) in the shared credentials and config files, incl. credential_process;
 * ECS/EKS container credentials; EC2 instance metadata (IMDSv2). Temporary credentials are refreshed before
 * they expire. Owns: finding, fetching and caching credentials. Must not touch: request signing (store_s3.c
 * hands them to curl) or anything that is not a credential source.
 *
 * Environment read (each link's own variables):
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
 *   AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials), AWS_CONFIG_FILE (~/.aws/config);
 *   AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (http://169.254.170.2 + it), AWS_CONTAINER_CREDENTIALS_FULL_URI,
 *   AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, AWS_CONTAINER_AUTHORIZATION_TOKEN;
 *   AWS_EC2_METADATA_DISABLED, AWS_EC2_METADATA_SERVICE_ENDPOINT (http://169.254.169.254);
 *   AWS_REGION, AWS_DEFAULT_REGION; CAI_AWS_CONTAINER_HOST (tests only: replaces 169.254.170.2). */
#ifndef CAI_AWS_CREDS_H
#define CAI_AWS_CREDS_H

#include <stddef.h>

#include "../common/err.h"

typedef struct {
    char key_id[129];
    char secret[257];
    char token[4097];  /* "" for long-term keys */
    double expires;    /* Unix seconds; 0: does not expire */
    char source[300];  /* where they came from, for messages: "environment", "profile \"p\" in FILE", ... */
} cai_aws_creds;

typedef struct cai_aws_provider cai_aws_provider;

/* Resolve the chain now (the first link that has credentials wins; a link that is configured but broken —
 * a profile that does not exist, a credential_process that fails — is an error, as in the SDKs). When no
 * link has any, CAI_EAUTH with a message listing each link tried and why it had none. */
int cai_aws_provider_open(cai_aws_provider **out, cai_err *err);
/* Current credentials: the cached ones, or fetched again from the same link when they expire within 5
 * minutes (a failed refresh keeps credentials that are still valid). Thread-safe. */
int cai_aws_provider_get(cai_aws_provider *p, cai_aws_creds *out, cai_err *err);
/* How many times credentials were fetched (1 after open; +1 per refresh). */
int cai_aws_provider_fetches(const cai_aws_provider *p);
void cai_aws_provider_close(cai_aws_provider *p);

/* The Region: AWS_REGION, AWS_DEFAULT_REGION, then `region` of the profile in the config file. CAI_ENOTFOUND
 * when none is set. *from (may be NULL) names where it came from. */
int cai_aws_region(char *out, size_t n, cai_err *err);
int cai_aws_region_from(char *out, size_t n, char *from, size_t from_n, cai_err *err);

/* Parse one INI-style AWS file's section: `[name]` (credentials) or `[profile name]`/`[default]` (config).
 * Calls on_kv for each key = value of that section. 0 found, CAI_ENOTFOUND no such section, CAI_EFORMAT with
 * the file and line for a malformed line. (Exposed for the unit tests.) */
int cai_aws_ini_section(const char *text, size_t len, const char *file, const char *section, int is_config,
                        void (*on_kv)(void *ctx, const char *key, const char *value), void *ctx, cai_err *err);

#endif
