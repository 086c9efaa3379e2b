package banners

import "strconv"

// Size is one of the program's banner sizes.
type Size struct {
	W, H int
}

// String returns "WxH".
func (s Size) String() string { return strconv.Itoa(s.W) + "x" + strconv.Itoa(s.H) }

// Sizes are the program's banner sizes, in the order the materials page lists them.
// Requests for any other size are 404: no arbitrary resizing for strangers.
var Sizes = [...]Size{
	{468, 60}, {88, 31}, {728, 90}, {120, 600}, {160, 600},
	{240, 400}, {300, 250}, {336, 280}, {200, 400}, {100, 100},
}

// numSizes is len(Sizes), usable as an array length.
const numSizes = len(Sizes)

// sizeIndex returns the index of w x h in Sizes, or -1.
func sizeIndex(w, h int) int {
	for i, s := range Sizes {
		if s.W == w && s.H == h {
			return i
		}
	}
	return -1
}

// sizeNames are the "WxH" labels of Sizes, built once so the serving path never formats.
var sizeNames = func() (out [numSizes][]byte) {
	for i, s := range Sizes {
		out[i] = []byte(s.String())
	}
	return out
}()
