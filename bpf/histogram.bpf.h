/* Log2 histograms as every collector keeps them (src/model/histogram.h reads them): slot i holds
 * values in [2^i, 2^(i+1)), slot 0 also those under 1, the last slot everything above. */
#ifndef NEUTRACER_BPF_HISTOGRAM_BPF_H
#define NEUTRACER_BPF_HISTOGRAM_BPF_H

static __always_inline __u32 nt_log2_slot(__u64 value, __u32 slots)
{
	__u32 slot = 0;

	if (value >> 32) { value >>= 32; slot += 32; }
	if (value >> 16) { value >>= 16; slot += 16; }
	if (value >> 8) { value >>= 8; slot += 8; }
	if (value >> 4) { value >>= 4; slot += 4; }
	if (value >> 2) { value >>= 2; slot += 2; }
	if (value >> 1) slot += 1;
	return slot < slots ? slot : slots - 1;
}

#endif
