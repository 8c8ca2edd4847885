//go:build cgo

// The kernels of kernels/elementwise.cu, compiled for the emulated device.
#include "emu.h"
#include "../kernels/elementwise.cu"
