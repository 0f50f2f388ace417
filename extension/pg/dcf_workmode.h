/*
 * dcf_workmode.h — minority work mode from SQL, kept across restarts
 * (dcf_workmode.c).
 */
#ifndef DCF_WORKMODE_H
#define DCF_WORKMODE_H

#include "core/dcf_core.h"

/* worker: the recorded work mode into the core's options at start */
extern void dcf_workmode_apply_options(dcf_options *o);

#endif							/* DCF_WORKMODE_H */
