//go:build cgo

// The kernels of kernels/solve.cu, compiled for the emulated device.
#include "emu.h"
#include "../kernels/solve.cu"
