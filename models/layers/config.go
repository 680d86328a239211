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
	// "AveragePooling2D", "Flatten", "Dropout", "BatchNormalization",
	// "Activation", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
	// "GlobalAveragePooling1D", "GlobalMaxPooling1D", "Reshape", "Permute",
	// "ZeroPadding2D", "Rescaling", "ReLU", "Normalization", "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "LayerNormalization", "Conv1D",
	// "Embedding", "LSTM", "GRU", "Bidirectional", "DepthwiseConv2D",
	// "SeparableConv2D" or "MultiHeadAttention" (the merge layers "Add",
	// "Multiply" and "Concatenate" are MultiLayers only, and FromConfig
	// does not build them).
	Type string `json:"type"`
	// Name is the layer's name ("" lets the model name it).
	Name string `json:"name,omitempty"`
	// Units is a Dense, LSTM or GRU layer's output size.
	Units int `json:"units,omitempty"`
	// Filters is a Conv2D layer's number of output channels.
	Filters int `json:"filters,omitempty"`
	// Kernel is a Conv2D layer's kernel height and width, a Conv1D
	// layer's kernel size.
	Kernel []int `json:"kernel,omitempty"`
	// Size is a pooling layer's window height and width.
	Size []int `json:"size,omitempty"`
	// Strides are a Conv2D or pooling layer's strides (height, width), a
	// Conv1D layer's one stride.
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
	// TargetShape is a Reshape layer's per-sample target (one -1 allowed).
	TargetShape []int64 `json:"target_shape,omitempty"`
	// Dims is a Permute layer's permutation, 1-based as in Keras.
	Dims []int `json:"dims,omitempty"`
	// PadWidths is a ZeroPadding2D layer's ((top, bottom), (left, right)).
	PadWidths [][]int `json:"pad_widths,omitempty"`
	// Scale and Offset are a Rescaling layer's x*scale + offset.
	Scale  float64 `json:"scale,omitempty"`
	Offset float64 `json:"offset,omitempty"`
	// Mean, Variance and Invert are a Normalization layer's statistics
	// per feature and direction.
	Mean     []float32 `json:"mean,omitempty"`
	Variance []float32 `json:"variance,omitempty"`
	Invert   bool      `json:"invert,omitempty"`
	// Mode is a RandomFlip layer's directions (Horizontal, Vertical,
	// HorizontalAndVertical).
	Mode string `json:"mode,omitempty"`
	// HeightFactor and WidthFactor are a RandomTranslation layer's
	// [lower, upper] fractions; FillMode, FillValue and Interpolation how
	// it fills (TransformOptions).
	// Factor is a RandomRotation layer's [lower, upper] fractions of a turn.
	// RandomZoom uses HeightFactor and WidthFactor (none: as the height).
	Factor        []float64 `json:"factor,omitempty"`
	HeightFactor  []float64 `json:"height_factor,omitempty"`
	WidthFactor   []float64 `json:"width_factor,omitempty"`
	FillMode      string    `json:"fill_mode,omitempty"`
	FillValue     float64   `json:"fill_value,omitempty"`
	Interpolation string    `json:"interpolation,omitempty"`
	// Epsilon is a LayerNormalization or BatchNormalization layer's
	// epsilon (0: Keras's 1e-3), Momentum a BatchNormalization layer's
	// (0: Keras's 0.99).
	Epsilon  float64 `json:"epsilon,omitempty"`
	Momentum float64 `json:"momentum,omitempty"`
	// MaxValue and NegativeSlope are a ReLU layer's (ReLUOptions).
	MaxValue      float64 `json:"max_value,omitempty"`
	NegativeSlope float64 `json:"negative_slope,omitempty"`
	// NoCenter and NoScale leave out a LayerNormalization layer's beta
	// and gamma (Keras's center=False, scale=False).
	NoCenter bool `json:"no_center,omitempty"`
	NoScale  bool `json:"no_scale,omitempty"`
	// InputDim and OutputDim are an Embedding layer's number of ids and
	// vector size.
	InputDim  int `json:"input_dim,omitempty"`
	OutputDim int `json:"output_dim,omitempty"`
	// KernelRegularizer and BiasRegularizer are a Dense or Conv2D layer's
	// weight penalties (WithKernelRegularizer, WithBiasRegularizer).
	KernelRegularizer *RegularizerConfig `json:"kernel_regularizer,omitempty"`
	BiasRegularizer   *RegularizerConfig `json:"bias_regularizer,omitempty"`
	// Axis is a Concatenate layer's axis, Keras-style (-1 is the last).
	Axis *int `json:"axis,omitempty"`
	// ReturnSequences and ReturnState are an LSTM or GRU layer's
	// (ReturnSequences, ReturnState).
	ReturnSequences bool `json:"return_sequences,omitempty"`
	ReturnState     bool `json:"return_state,omitempty"`
	// MaskZero makes an Embedding layer mask id 0 (MaskZero).
	MaskZero bool `json:"mask_zero,omitempty"`
	// Layer is the layer a Bidirectional layer wraps.
	Layer *Config `json:"layer,omitempty"`
	// DepthMultiplier is a DepthwiseConv2D or SeparableConv2D layer's
	// output channels per input channel (0: Keras's 1).
	DepthMultiplier int `json:"depth_multiplier,omitempty"`
	// NumHeads and KeyDim are a MultiHeadAttention layer's number of
	// heads and size of each head's query and key (and value).
	NumHeads int `json:"num_heads,omitempty"`
	KeyDim   int `json:"key_dim,omitempty"`
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
func (l *batchNorm) Config() Config {
	c := l.describe("BatchNormalization")
	if l.momentum != 0.99 {
		c.Momentum = l.momentum
	}
	if l.epsilon != 1e-3 {
		c.Epsilon = l.epsilon
	}
	return c
}

// Config implements Layer.
func (l *relu) Config() Config {
	c := l.describe("ReLU")
	c.MaxValue, c.NegativeSlope = l.o.MaxValue, l.o.NegativeSlope
	return c
}

// Config implements Layer.
func (l *activationLayer) Config() Config {
	c := l.describe("Activation")
	c.Activation = l.cfg.activation.String()
	return c
}

// Config implements Layer.
func (l *globalPool) Config() Config { return l.describe(l.typ) }

// Config implements Layer.
func (l *reshape) Config() Config {
	c := l.describe("Reshape")
	c.TargetShape = append([]int64{}, l.target...)
	return c
}

// Config implements Layer.
func (l *permute) Config() Config {
	c := l.describe("Permute")
	c.Dims = append([]int{}, l.dims...)
	return c
}

// Config implements Layer.
func (l *zeroPadding2D) Config() Config {
	c := l.describe("ZeroPadding2D")
	c.PadWidths = [][]int{{int(l.pad[0][0]), int(l.pad[0][1])}, {int(l.pad[1][0]), int(l.pad[1][1])}}
	return c
}

// Config implements Layer.
func (l *rescaling) Config() Config {
	c := l.describe("Rescaling")
	c.Scale, c.Offset = l.scale, l.offset
	return c
}

// Config implements Layer.
func (l *layerNorm) Config() Config {
	c := l.describe("LayerNormalization")
	c.Epsilon, c.NoCenter, c.NoScale = l.o.Epsilon, l.o.NoCenter, l.o.NoScale
	return c
}

// Config implements Layer.
func (l *conv1D) Config() Config {
	c := l.describe("Conv1D")
	c.Filters, c.Activation, c.NoBias = int(l.units), l.cfg.activation.String(), l.cfg.noBias
	c.Kernel, c.Strides = []int{int(l.kernelSize)}, []int{int(l.cfg.strides[1])}
	c.Padding = strings.ToLower(string(l.cfg.padding))
	return c
}

// Config implements Layer.
func (l *embedding) Config() Config {
	c := l.describe("Embedding")
	c.InputDim, c.OutputDim, c.MaskZero = int(l.inputDim), int(l.outputDim), l.cfg.maskZero
	return c
}

// Config implements Layer.
func (l *depthwiseConv2D) Config() Config {
	c := l.window(l.describe("DepthwiseConv2D"))
	c.Activation, c.NoBias = l.cfg.activation.String(), l.cfg.noBias
	c.Kernel = []int{int(l.kernelSize[0]), int(l.kernelSize[1])}
	c.DepthMultiplier = int(l.mult())
	return c
}

// Config implements Layer.
func (l *separableConv2D) Config() Config {
	c := l.window(l.describe("SeparableConv2D"))
	c.Filters, c.Activation, c.NoBias = int(l.filters), l.cfg.activation.String(), l.cfg.noBias
	c.Kernel = []int{int(l.kernelSize[0]), int(l.kernelSize[1])}
	c.DepthMultiplier = int(l.mult())
	return c
}

// Config implements Layer and MultiLayer.
func (l *multiHeadAttention) Config() Config {
	c := l.describe("MultiHeadAttention")
	c.NumHeads, c.KeyDim, c.NoBias = int(l.heads), int(l.keyDim), l.cfg.noBias
	return c
}

// FromConfig builds a fresh layer (no weights yet) from its description,
// as Keras's from_config: FromConfig(l.Config()) is a layer configured as l
// is. It returns an error, naming the layer, for an unknown type or
// activation, a kernel, size or strides that is not two numbers (one for
// Conv1D), pad_widths that is not two pairs, or Permute dims that are not
// a permutation of 1..n. Arguments that do not fit the input (a Reshape to
// the wrong size) are errors from the layer's OutputShape, when the model
// is built.
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
	if c.DepthMultiplier != 0 {
		opts = append(opts, WithDepthMultiplier(c.DepthMultiplier))
	}
	if c.Strides != nil && c.Type == "Conv1D" {
		if len(c.Strides) != 1 {
			return nil, fmt.Errorf("strides %v: want one number", c.Strides)
		}
		opts = append(opts, WithStride1D(c.Strides[0]))
	} else if c.Strides != nil {
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
		return BatchNormalizationWith(BatchNormOptions{Momentum: c.Momentum, Epsilon: c.Epsilon}, opts...), nil
	case "ReLU":
		return ReLULayer(ReLUOptions{MaxValue: c.MaxValue, NegativeSlope: c.NegativeSlope}, opts...), nil
	case "Activation":
		return ActivationLayer(act, opts...), nil
	case "GlobalAveragePooling2D":
		return GlobalAveragePooling2D(opts...), nil
	case "GlobalMaxPooling2D":
		return GlobalMaxPooling2D(opts...), nil
	case "GlobalAveragePooling1D":
		return GlobalAveragePooling1D(opts...), nil
	case "GlobalMaxPooling1D":
		return GlobalMaxPooling1D(opts...), nil
	case "Reshape":
		return Reshape(c.TargetShape, opts...), nil
	case "Permute":
		// As Keras's Permute, which checks dims when it is made.
		seen := make([]bool, len(c.Dims))
		for _, d := range c.Dims {
			if d < 1 || d > len(c.Dims) || seen[d-1] {
				return nil, fmt.Errorf("dims %v: not a permutation of 1..%d", c.Dims, len(c.Dims))
			}
			seen[d-1] = true
		}
		return Permute(c.Dims, opts...), nil
	case "ZeroPadding2D":
		if len(c.PadWidths) != 2 || len(c.PadWidths[0]) != 2 || len(c.PadWidths[1]) != 2 {
			return nil, fmt.Errorf("pad_widths %v: want ((top, bottom), (left, right))", c.PadWidths)
		}
		p := c.PadWidths
		return ZeroPadding2D(p[0][0], p[0][1], p[1][0], p[1][1], opts...), nil
	case "Rescaling":
		return Rescaling(c.Scale, c.Offset, opts...), nil
	case "RandomTranslation":
		if len(c.HeightFactor) != 2 || len(c.WidthFactor) != 2 {
			return nil, fmt.Errorf("height_factor %v, width_factor %v: want [lower, upper] each", c.HeightFactor, c.WidthFactor)
		}
		return RandomTranslation([2]float64{c.HeightFactor[0], c.HeightFactor[1]}, [2]float64{c.WidthFactor[0], c.WidthFactor[1]},
			TransformOptions{FillMode: c.FillMode, FillValue: c.FillValue, Interpolation: c.Interpolation}, opts...), nil
	case "RandomRotation":
		f, err := factorPair("factor", c.Factor)
		if err != nil {
			return nil, err
		}
		return RandomRotation(f, TransformOptions{FillMode: c.FillMode, FillValue: c.FillValue, Interpolation: c.Interpolation}, opts...), nil
	case "RandomZoom":
		h, err := factorPair("height_factor", c.HeightFactor)
		if err != nil {
			return nil, err
		}
		var w *[2]float64
		if c.WidthFactor != nil {
			wf, err := factorPair("width_factor", c.WidthFactor)
			if err != nil {
				return nil, err
			}
			w = &wf
		}
		return RandomZoom(h, w, TransformOptions{FillMode: c.FillMode, FillValue: c.FillValue, Interpolation: c.Interpolation}, opts...), nil
	case "RandomFlip":
		return RandomFlip(c.Mode, opts...), nil
	case "Normalization":
		return Normalization(NormalizationOptions{Mean: c.Mean, Variance: c.Variance, Invert: c.Invert}, opts...), nil
	case "Conv1D":
		if len(c.Kernel) != 1 {
			return nil, fmt.Errorf("kernel %v: want one number", c.Kernel)
		}
		return Conv1D(c.Filters, c.Kernel[0], append(opts, WithActivation(act))...), nil
	case "Embedding":
		if c.MaskZero {
			opts = append(opts, MaskZero())
		}
		return Embedding(c.InputDim, c.OutputDim, opts...), nil
	case "LSTM", "GRU":
		if c.ReturnSequences {
			opts = append(opts, ReturnSequences())
		}
		if c.ReturnState {
			opts = append(opts, ReturnState())
		}
		if c.Type == "LSTM" {
			return LSTM(c.Units, opts...), nil
		}
		return GRU(c.Units, opts...), nil
	case "Bidirectional":
		if c.Layer == nil {
			return nil, fmt.Errorf("no layer to wrap")
		}
		inner, err := FromConfig(*c.Layer)
		if err != nil {
			return nil, err
		}
		return Bidirectional(inner, opts...), nil
	case "DepthwiseConv2D":
		k, err := pair("kernel", c.Kernel)
		if err != nil {
			return nil, err
		}
		return DepthwiseConv2D(k[0], k[1], append(opts, WithActivation(act))...), nil
	case "SeparableConv2D":
		k, err := pair("kernel", c.Kernel)
		if err != nil {
			return nil, err
		}
		return SeparableConv2D(c.Filters, k[0], k[1], append(opts, WithActivation(act))...), nil
	case "MultiHeadAttention":
		return MultiHeadAttention(c.NumHeads, c.KeyDim, opts...), nil
	case "LayerNormalization":
		return LayerNormalization(LayerNormOptions{Epsilon: c.Epsilon, NoCenter: c.NoCenter, NoScale: c.NoScale}, opts...), nil
	}
	return nil, fmt.Errorf("unsupported type %q", c.Type)
}

// factorPair reads a [lower, upper] range.
func factorPair(what string, v []float64) ([2]float64, error) {
	if len(v) != 2 {
		return [2]float64{}, fmt.Errorf("%s %v: want [lower, upper]", what, v)
	}
	return [2]float64{v[0], v[1]}, nil
}

// pair checks that a kernel, size or strides is two numbers.
func pair(what string, v []int) ([]int, error) {
	if len(v) != 2 {
		return nil, fmt.Errorf("%s %v: want two numbers (height, width)", what, v)
	}
	return v, nil
}
