/* rank_record.c — see rank_record.h. */
#include "rank_record.h"

#include "record.h"

static void add_stage_seconds(cJSON *o, const cai_stage_seconds *t) {
    cJSON *s = cJSON_AddObjectToObject(o, "stage_seconds");
    cJSON_AddNumberToObject(s, "fetch", t->fetch);
    cJSON_AddNumberToObject(s, "fetch_wait", t->fetch_wait);
    cJSON_AddNumberToObject(s, "decode", t->decode);
    cJSON_AddNumberToObject(s, "infer", t->infer);
    cJSON_AddNumberToObject(s, "write", t->write);
}

cJSON *cai_rank_record_json(cai_rank_record *rec) {
    cJSON *parts = rec->partitions;
    rec->partitions = NULL;
    cJSON *r = cJSON_CreateObject();
    if (!r) {
        cJSON_Delete(parts);
        return NULL;
    }
    /* The seed's fields, in the seed's order. */
    cJSON_AddNumberToObject(r, "total_cpu_time (seconds)", rec->total_cpu_time);
    cJSON_AddNumberToObject(r, "total_cpu_memory (MB)", rec->total_cpu_memory_mb);
    cJSON_AddNumberToObject(r, "execution_time (seconds/batch)", rec->seconds_per_batch);
    cJSON_AddNumberToObject(r, "num_batches", (double)rec->num_batches);
    cJSON_AddNumberToObject(r, "batch_size", (double)rec->batch_size);
    cJSON_AddStringToObject(r, "device", rec->device ? rec->device : "cpu");
    cJSON_AddNumberToObject(r, "throughput_bps", rec->throughput_bps);
    cJSON_AddNumberToObject(r, "sample_persec", rec->sample_persec);
    cJSON_AddItemToObject(r, "result_path", cJSON_Duplicate(rec->result_path, 1));
    cJSON_AddItemToObject(r, "data_path", cJSON_Duplicate(rec->data_path, 1));
    if (rec->has_s3) {
        cJSON_AddNumberToObject(r, "s3_num_requests", (double)rec->s3_num_requests);
        cJSON_AddNumberToObject(r, "s3_total_time", rec->s3_total_time);
        cJSON_AddNumberToObject(r, "s3_avg_time", rec->s3_avg_time);
        cJSON_AddNumberToObject(r, "s3_min_time", rec->s3_min_time);
        cJSON_AddNumberToObject(r, "s3_max_time", rec->s3_max_time);
        cJSON_AddNumberToObject(r, "s3_first_request_time", rec->s3_first_request_time);
        cJSON_AddNumberToObject(r, "s3_last_response_time", rec->s3_last_response_time);
    }
    /* CAI's fields. */
    cJSON_AddNumberToObject(r, "rank", (double)rec->rank);
    cJSON_AddNumberToObject(r, "world_size", (double)rec->world_size);
    cJSON_AddStringToObject(r, "status", rec->status);
    cJSON_AddNumberToObject(r, "galaxies", (double)rec->galaxies);
    cJSON_AddNumberToObject(r, "input_bits", (double)rec->input_bits);
    cJSON_AddNumberToObject(r, "wall_seconds", rec->wall_seconds);
    cJSON_AddNumberToObject(r, "cpu_seconds", rec->cpu_seconds);
    cJSON_AddNumberToObject(r, "peak_rss_mb", rec->peak_rss_mb);
    cJSON_AddNumberToObject(r, "start_unix", rec->start_unix);
    cJSON_AddNumberToObject(r, "end_unix", rec->end_unix);
    cJSON_AddStringToObject(r, "start_iso", rec->start_iso ? rec->start_iso : "");
    cJSON_AddStringToObject(r, "end_iso", rec->end_iso ? rec->end_iso : "");
    add_stage_seconds(r, &rec->stage_seconds);
    cJSON_AddNumberToObject(r, "threads", rec->threads);
    /* Who ran it: the same record whatever the engine, plus its name and (SLURM, MPI) the scheduler's ids. */
    if (rec->engine) cJSON_AddStringToObject(r, "engine", rec->engine);
    if (cJSON_IsObject(rec->engine_info))
        for (const cJSON *it = rec->engine_info->child; it; it = it->next)
            if (it->string && !cJSON_GetObjectItemCaseSensitive(r, it->string))
                cJSON_AddItemToObject(r, it->string, cJSON_Duplicate(it, 1));
    cJSON_AddStringToObject(r, "precision", rec->precision ? rec->precision : "fp32");
    cJSON *mj = cJSON_AddObjectToObject(r, "model");
    if (rec->model_variant && rec->model_variant[0]) cJSON_AddStringToObject(mj, "variant", rec->model_variant);
    if (rec->has_weights) {
        cJSON_AddStringToObject(mj, "weights_sha256", rec->weights_sha256 ? rec->weights_sha256 : "");
        if (rec->weights_source && rec->weights_source[0]) cJSON_AddStringToObject(mj, "source", rec->weights_source);
        cJSON_AddBoolToObject(mj, "untrained", rec->untrained);
    }
    cJSON_AddNumberToObject(r, "partitions_total", (double)rec->partitions_total);
    cJSON_AddNumberToObject(r, "partitions_done", (double)rec->partitions_done);
    cJSON_AddNumberToObject(r, "partitions_failed", (double)rec->partitions_failed);
    cJSON_AddNumberToObject(r, "partitions_unfinished", (double)rec->partitions_unfinished);
    cJSON_AddItemToObject(r, "partitions", parts ? parts : cJSON_CreateArray());
    cai_record_set_identity(r, rec->run_id, rec->calibration_sha256);
    if (rec->predictions) {
        cJSON_AddStringToObject(r, "predictions", rec->predictions);
        cJSON_AddNumberToObject(r, "predictions_bytes", (double)rec->predictions_bytes);
    }
    if (rec->error) cJSON_AddStringToObject(r, "error", rec->error);
    return r;
}
