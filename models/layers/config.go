package layers

import (
	"fmt"
	"strings"
)

// Config describes a layer, as Keras's get_config: its Keras class name,
// its name and the arguments that rebuild it with FromConfig. Its JSON is
// what a backbone's backbone.json lists under "layers"
// (scripts/pretrain_backbone.py writes it), e.g.
//
//	{"type": "Conv2D", "name": "block1_conv", "filters": 32, "kernel": [3, 3], "activation": "relu"}
//
// A field a type does not use is zero and left out of the JSON; an unset
// field means the layer's default. Config is a plain value, safe to copy.
type Config struct {
	// Type is the Keras class name: "Dense", "Conv2D", "MaxPooling2D",
	// "AveragePooling2D", "Flatten", "Dropout", "BatchNormalization" or
	// "Activation".
	Type string `json:"type"`
	// Name is the layer's name ("" lets the model name it).
	Name string `json:"name,omitempty"`
	// Units is a Dense layer's output size.
	Units int `json:"units,omitempty"`
	// Filters is a Conv2D layer's number of output channels.
	Filters int `json:"filters,omitempty"`
	// Kernel is a Conv2D layer's kernel height and width.
	Kernel []int `json:"kernel,omitempty"`
	// Size is a pooling layer's window height and width.
	Size []int `json:"size,omitempty"`
	// Strides are a Conv2D or pooling layer's strides (height, width).
	Strides []int `json:"strides,omitempty"`
	// Padding is a Conv2D or pooling layer's padding, "valid" or "same".
	Padding string `json:"padding,omitempty"`
	// Activation is the Keras name of a Dense, Conv2D or Activation
	// layer's activation ("" is linear).
	Activation string `json:"activation,omitempty"`
	// NoBias leaves out a Dense or Conv2D layer's bias (NoBias).
	NoBias bool `json:"no_bias,omitempty"`
	// Rate is a Dropout layer's rate.
	Rate float64 `json:"rate,omitempty"`
	// Seed is the layer's own seed (WithSeed), if it has one.
	Seed *uint64 `json:"seed,omitempty"`
	// Frozen makes the layer's weights non-trainable (Frozen).
	Frozen bool `json:"frozen,omitempty"`
	// KernelRegularizer and BiasRegularizer are a Dense or Conv2D layer's
	// weight penalties (WithKernelRegularizer, WithBiasRegularizer).
	KernelRegularizer *RegularizerConfig `json:"kernel_regularizer,omitempty"`
	BiasRegularizer   *RegularizerConfig `json:"bias_regularizer,omitempty"`
}

// describe returns what every layer's Config holds: type, name, seed and
// whether it is frozen.
func (b *base) describe(typ string) Config {
	c := Config{Type: typ, Name: b.name, Frozen: b.cfg.frozen}
	if b.cfg.seed != nil {
		s := *b.cfg.seed
		c.Seed = &s
	}
	return c
}

// window returns the strides and padding of a Conv2D or pooling layer.
func (b *base) window(c Config) Config {
	c.Strides = []int{int(b.cfg.strides[0]), int(b.cfg.strides[1])}
	c.Padding = strings.ToLower(string(b.cfg.padding))
	return c
}

// Config implements Layer.
func (l *dense) Config() Config {
	c := l.describe("Dense")
	c.Units, c.Activation, c.NoBias = int(l.units), l.cfg.activation.String(), l.cfg.noBias
	return l.describeRegularizers(c)
}

// Config implements Layer.
func (l *conv2D) Config() Config {
	c := l.window(l.describe("Conv2D"))
	c.Filters, c.Activation, c.NoBias = int(l.units), l.cfg.activation.String(), l.cfg.noBias
	c.Kernel = []int{int(l.kernelSize[0]), int(l.kernelSize[1])}
	return l.describeRegularizers(c)
}

// Config implements Layer.
func (l *pool2D) Config() Config {
	c := l.window(l.describe(l.typ))
	c.Size = []int{int(l.size[0]), int(l.size[1])}
	return c
}

// Config implements Layer.
func (l *flatten) Config() Config { return l.describe("Flatten") }

// Config implements Layer.
func (l *dropout) Config() Config {
	c := l.describe("Dropout")
	c.Rate = l.rate
	return c
}

// Config implements Layer.
func (l *batchNorm) Config() Config { return l.describe("BatchNormalization") }

// Config implements Layer.
func (l *activationLayer) Config() Config {
	c := l.describe("Activation")
	c.Activation = l.cfg.activation.String()
	return c
}

// FromConfig builds a fresh layer (no weights yet) from its description,
// as Keras's from_config: FromConfig(l.Config()) is a layer configured as l
// is. It returns an error, naming the layer, for an unknown type or
// activation, or a kernel, size or strides that is not two numbers.
func FromConfig(c Config) (Layer, error) {
	l, err := fromConfig(c)
	if err != nil {
		return nil, fmt.Errorf("layers: layer %s (%s): %w", c.Name, c.Type, err)
	}
	return l, nil
}

func fromConfig(c Config) (Layer, error) {
	opts := []Option{WithName(c.Name)}
	if c.Frozen {
		opts = append(opts, Frozen())
	}
	if c.Seed != nil {
		opts = append(opts, WithSeed(*c.Seed))
	}
	if c.NoBias {
		opts = append(opts, NoBias())
	}
	opts = append(opts, regularizerOptions(c)...)
	if c.Strides != nil {
		s, err := pair("strides", c.Strides)
		if err != nil {
			return nil, err
		}
		opts = append(opts, WithStrides(int64(s[0]), int64(s[1])))
	}
	switch strings.ToLower(c.Padding) {
	case "", "valid":
	case "same":
		opts = append(opts, WithPadding(Same))
	default:
		return nil, fmt.Errorf("unknown padding %q", c.Padding)
	}
	act := Linear
	if c.Activation != "" {
		a, err := ParseActivation(c.Activation)
		if err != nil {
			return nil, err
		}
		act = a
	}
	switch c.Type {
	case "Dense":
		return Dense(c.Units, append(opts, WithActivation(act))...), nil
	case "Conv2D":
		k, err := pair("kernel", c.Kernel)
		if err != nil {
			return nil, err
		}
		return Conv2D(c.Filters, k[0], k[1], append(opts, WithActivation(act))...), nil
	case "MaxPooling2D", "AveragePooling2D":
		s, err := pair("size", c.Size)
		if err != nil {
			return nil, err
		}
		return newPool(c.Type, s[0], s[1], opts), nil
	case "Flatten":
		return Flatten(opts...), nil
	case "Dropout":
		return Dropout(c.Rate, opts...), nil
	case "BatchNormalization":
		return BatchNormalization(opts...), nil
	case "Activation":
		return ActivationLayer(act, opts...), nil
	}
	return nil, fmt.Errorf("unsupported type %q", c.Type)
}

// pair checks that a kernel, size or strides is two numbers.
func pair(what string, v []int) ([]int, error) {
	if len(v) != 2 {
		return nil, fmt.Errorf("%s %v: want two numbers (height, width)", what, v)
	}
	return v, nil
}
