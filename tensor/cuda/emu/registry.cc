//go:build cgo

// The kernel registry and the launch loop of the emulated device.
#include "emu.h"

thread_local emu_thread_state emu_thread;

// Kernels link themselves in at static initialisation; the head is
// zero-initialised before any constructor runs, whatever the order of the
// translation units.
static emu_kernel *registry_head;
static int registry_count;

emu_kernel::emu_kernel(const char *n, size_t b, emu_entry f) : name(n), bytes(b), fn(f), next(registry_head) {
	registry_head = this;
	registry_count++;
}

static emu_kernel *registry_at(int i) {
	emu_kernel *k = registry_head;
	for (; k != nullptr && i > 0; i--) {
		k = k->next;
	}
	return k;
}

extern "C" int emu_kernel_count(void) { return registry_count; }
extern "C" const char *emu_kernel_name(int i) { return registry_at(i)->name; }
extern "C" size_t emu_kernel_bytes(int i) { return registry_at(i)->bytes; }

// emu_launch runs kernel i for every thread of the grid, blocks and threads
// in order, one at a time.
extern "C" void emu_launch(int i, int64_t gx, int64_t gy, int64_t gz, int64_t bx, int64_t by, int64_t bz,
			   const uint64_t *words) {
	emu_entry fn = registry_at(i)->fn;
	emu_thread_state &s = emu_thread;
	s.nctaid = {gx, gy, gz};
	s.ntid = {bx, by, bz};
	for (int64_t z = 0; z < gz; z++)
		for (int64_t y = 0; y < gy; y++)
			for (int64_t x = 0; x < gx; x++) {
				s.ctaid = {x, y, z};
				for (int64_t tz = 0; tz < bz; tz++)
					for (int64_t ty = 0; ty < by; ty++)
						for (int64_t tx = 0; tx < bx; tx++) {
							s.tid = {tx, ty, tz};
							fn(words);
						}
			}
}
