//go:build cgo

// The kernels of kernels/reduce.cu, compiled for the emulated device.
#include "emu.h"
#include "../kernels/reduce.cu"
