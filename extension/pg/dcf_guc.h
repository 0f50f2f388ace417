/*
 * dcf_guc.h — the parameters a user writes in postgresql.conf, and the
 * configuration parsed from them.  Defined in dcf.c (_PG_init).
 */
#ifndef DCF_GUC_H
#define DCF_GUC_H

#include "pg/dcf_config.h"

extern bool dcf_enable;
extern int	dcf_node_id;
extern char *dcf_data_path;
extern char *dcf_config_json;
extern int	dcf_election_timeout_ms;
extern int	dcf_heartbeat_interval_ms;
extern int	dcf_run_mode_setting;
extern char *dcf_auth_key_file;
extern bool dcf_ssl;
extern char *dcf_ssl_cert_file;
extern char *dcf_ssl_key_file;
extern char *dcf_ssl_ca_file;
extern int	dcf_compress;		/* 0 none, 1 lz4 */
extern int	dcf_log_retention_size_mb;	/* 0: no cap */
extern bool dcf_log_direct_io;
extern bool dcf_log_sync_thread;

/*
 * The port number in the name of the WAL feeder's Unix socket
 * (<dcf.data_path>/.s.PGSQL.<port>): this server's own SQL port.  The
 * socket lives in the node's private dcf.data_path, so the number only has
 * to be known to the postmaster (primary_conninfo) and the worker before
 * either has read the membership: not from dcf.config, which may be stale
 * or absent on a node that joined later.
 */
extern int	dcf_feeder_port(void);

/* dcf.config as parsed by the check hook; nmembers == 0 when unset/invalid */
extern DcfConfig dcf_config_parsed;

/* the absolute, canonical dcf.data_path (computed in _PG_init) */
extern char dcf_data_path_abs[];

/* Validate or create dcf.data_path; ereport(elevel) on a path we cannot use. */
extern bool dcf_prepare_data_path(int elevel);

/*
 * Record (first start) or check the node id and system identifier that
 * dcf.data_path belongs to; FATAL on a mismatch (dcf_identity.c).
 */
extern void dcf_check_identity(void);

#endif							/* DCF_GUC_H */
