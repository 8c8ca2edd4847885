package cuda

import (
	"github.com/fdsm-go/fdsm/tensor"
)

var _ tensor.DirectCopier = (*Backend)(nil)

// CopyFromOther copies src, a tensor of another backend on the same GPU (a
// lane: gpu.OpenLane), into dst by a device-to-device copy on our stream.
// Our stream first waits for the work src's backend enqueued so far (which
// writes src); then src's stream waits for the copy, because its caching
// allocator hands memory out again in its own stream's order: a tensor
// that reuses src's memory is written only after the copy read it. Neither
// waits on the host. Tensors of other devices or the host: false.
func (b *Backend) CopyFromOther(dst, src *tensor.Tensor) bool {
	h, ok := src.DeviceHandle().(*buffer)
	if !ok || h.be == b || h.be.dev != b.dev || dst.DType() != src.DType() || dst.Numel() != src.Numel() {
		return false
	}
	from := h.be
	b.WaitFor(from.Record())
	if n := int64(dst.Bytes()); n > 0 {
		b.check(b.dev.CopyDtoD(b.ptr(dst), h.ptr, n, b.s))
	}
	from.WaitFor(b.Record())
	return true
}
