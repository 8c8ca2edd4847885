//go:build cgo

// The kernels of kernels/conv.cu, compiled for the emulated device.
#include "emu.h"
#include "../kernels/conv.cu"
