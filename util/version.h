/*
 * version.h — contactd's version: what `contactd version` prints and what
 * /metrics reports (contactd_build_info).
 */
#ifndef CD_UTIL_VERSION_H
#define CD_UTIL_VERSION_H

#define CD_VERSION "0.1.0"

#endif
