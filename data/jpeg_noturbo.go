//go:build !cgo || !turbojpeg

package data

import "errors"

// Without cgo or the turbojpeg tag the build decodes with image/jpeg only.
const turboAvailable = false

func newTurboJPEG() (jpegCodec, error) {
	return nil, errors.New("libjpeg-turbo: not in this build (build with cgo and -tags turbojpeg)")
}
