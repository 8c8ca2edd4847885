//go:build cgo

// The kernels of kernels/optim.cu, compiled for the emulated device.
#include "emu.h"
#include "../kernels/optim.cu"
