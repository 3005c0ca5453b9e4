// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Benchmark baseline: the vxtap data path with a linear-scan classifier
 * (include/linear_classify.h) in place of the bit-vector one, so
 * BenchmarkClassify compares the two on the same program. Never attached. */
#include "../include/linear_classify.h"
#include "../xdp_vxtap.c"
