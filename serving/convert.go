package serving

import (
	"fmt"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/restjson"
)

// inputsOf describes a signature's inputs to the JSON decoder.
func inputsOf(sig *savedmodels.Signature) ([]restjson.Input, error) {
	out := make([]restjson.Input, len(sig.Inputs))
	for i, in := range sig.Inputs {
		if !in.DType.Valid() {
			return nil, fmt.Errorf("input %q has a dtype the server cannot decode", in.Name)
		}
		out[i] = restjson.Input{Name: in.Name, DType: in.DType, Shape: in.Shape}
	}
	return out, nil
}
