package serving

import (
	"fmt"

	"github.com/tfgo-project/gotf/savedmodels"
	"github.com/tfgo-project/gotf/serving/restjson"
	"github.com/tfgo-project/gotf/tfwrap"
)

var kinds = map[tfwrap.DType]restjson.Kind{
	tfwrap.Float32: restjson.Float32, tfwrap.Float64: restjson.Float64, tfwrap.Int32: restjson.Int32,
	tfwrap.Int64: restjson.Int64, tfwrap.Uint8: restjson.Uint8, tfwrap.Bool: restjson.Bool, tfwrap.String: restjson.String,
}

// inputsOf describes a signature's inputs to the JSON decoder.
func inputsOf(sig *savedmodels.Signature) ([]restjson.Input, error) {
	out := make([]restjson.Input, len(sig.Inputs))
	for i, in := range sig.Inputs {
		k, ok := kinds[in.DType]
		if !ok {
			return nil, fmt.Errorf("input %q has a dtype the server cannot decode", in.Name)
		}
		out[i] = restjson.Input{Name: in.Name, Kind: k, Shape: in.Shape}
	}
	return out, nil
}
