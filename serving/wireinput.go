package serving

import (
	"fmt"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/tfwrap"
)

// wireInput is one request input as its wire format declares it: the
// header every format has (name, dtype, shape, and for strings the bytes
// their values take), read without materialising any value, and fill,
// which materialises the values into a buffer of the dtype once the
// header has been admitted. TF Serving's JSON and TensorProto, KServe's
// JSON, binary extension and gRPC each turn their request into a list of
// these; decodeInputs does the rest, the same way for all.
type wireInput struct {
	name    string
	dt      tfwrap.DType
	dims    []int64
	payload int64 // a string input's value bytes, counted before the copy
	fill    func() (Tensor, error)
}

// elements is the element count of dims once decodeInputs has admitted
// them (so the count is known to be valid and within the limits).
func elements(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// decodeInputs is the one decoder behind every wire format: each input is
// admitted against the signature (name, dtype, shape) and the budget (the
// request's element and byte limits, and the server's memory for all
// requests in flight) before any input is filled, so a request that cannot
// be served is refused before it allocates; then each is filled.
func decodeInputs(sig *savedmodels.Signature, b *budget, ins []wireInput) (map[string]Tensor, error) {
	seen := make(map[string]bool, len(ins))
	for _, in := range ins {
		if seen[in.name] {
			return nil, fmt.Errorf("%w: input %q appears twice", restjson.ErrBadRequest, in.name)
		}
		seen[in.name] = true
		if err := b.admit(sig, in.name, in.dt, in.dims); err != nil {
			return nil, err
		}
		if in.payload > 0 {
			if err := b.payload(in.name, in.payload); err != nil {
				return nil, err
			}
		}
	}
	out := make(map[string]Tensor, len(ins))
	for _, in := range ins {
		t, err := in.fill()
		if err != nil {
			return nil, err
		}
		out[in.name] = t
	}
	return out, nil
}
