package cuda

// Internals the external tests check.

var (
	UnaryCodes  = unaryCodes
	BinaryCodes = binaryCodes
	ReduceCodes = reduceCodes
	DistCodes   = distCodes
	SizeClass   = sizeClass
)
