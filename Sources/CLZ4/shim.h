#ifndef SERVHA_CLZ4_SHIM_H
#define SERVHA_CLZ4_SHIM_H

#include <lz4.h>
#include <lz4hc.h>
#include <lz4frame.h>
#include "crc32c_hw.h"
#include "system_shim.h"

#endif
