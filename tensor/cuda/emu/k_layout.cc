//go:build cgo

// The kernels of kernels/layout.cu, compiled for the emulated device.
#include "emu.h"
#include "../kernels/layout.cu"
