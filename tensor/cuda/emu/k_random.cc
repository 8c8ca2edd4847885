//go:build cgo

// The kernels of kernels/random.cu, compiled for the emulated device.
#include "emu.h"
#include "../kernels/random.cu"
