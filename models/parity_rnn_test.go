package models

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
	"github.com/tfgo-project/gotf/models/layers"
	"github.com/tfgo-project/gotf/tfwrap"
)

func lstm(units int, seq bool) layers.Config {
	return layers.Config{Type: "LSTM", Units: units, ReturnSequences: seq}
}

func gru(units int, seq bool) layers.Config {
	return layers.Config{Type: "GRU", Units: units, ReturnSequences: seq}
}

func bidi(inner layers.Config) layers.Config {
	return layers.Config{Type: "Bidirectional", Layer: &inner}
}

func maskedEmbedding(ids, dim int) layers.Config {
	return layers.Config{Type: "Embedding", InputDim: ids, OutputDim: dim, MaskZero: true}
}

// rnnParityCases covers LSTM, GRU and Bidirectional, with and without
// return_sequences, and masks from Embedding's mask_zero. Masked cases
// set padding (id 0) by maskPattern.
func rnnParityCases() []*parityCase {
	seq := []int64{5, 3}
	ids := []int64{5}
	flat := layers.Config{Type: "Flatten"}
	mse := lossSpec{Type: "mse"}
	return []*parityCase{
		{Name: "lstm_last", Input: seq, Layers: []layers.Config{lstm(4, false), dense(2, "")}, Loss: mse},
		{Name: "lstm_sequences_global_avg", Input: seq, Layers: []layers.Config{lstm(3, true), {Type: "GlobalAveragePooling1D"}, dense(3, "softmax")}, Loss: lossSpec{Type: "scce"}},
		{Name: "lstm_sequences_flatten", Input: seq, Layers: []layers.Config{lstm(3, true), flat, dense(2, "")}, Loss: mse},
		{Name: "gru_last", Input: seq, Layers: []layers.Config{gru(4, false), dense(2, "sigmoid")}, Loss: lossSpec{Type: "bce"}},
		{Name: "gru_sequences_flatten", Input: seq, Layers: []layers.Config{gru(3, true), flat, dense(2, "")}, Loss: mse},
		{Name: "bidirectional_lstm", Input: seq, Layers: []layers.Config{bidi(lstm(3, false)), dense(2, "")}, Loss: mse},
		{Name: "bidirectional_gru_sequences", Input: seq, Layers: []layers.Config{bidi(gru(2, true)), flat, dense(2, "")}, Loss: mse},
		{Name: "masked_embedding_lstm", Input: ids, IDs: 6, Layers: []layers.Config{maskedEmbedding(6, 3), lstm(4, false), dense(2, "")}, Loss: mse},
		{Name: "masked_embedding_lstm_sequences_lstm", Input: ids, IDs: 6, Layers: []layers.Config{maskedEmbedding(6, 3), lstm(3, true), lstm(2, false)}, Loss: mse},
		{Name: "masked_embedding_lstm_sequences_flatten", Input: ids, IDs: 6, Layers: []layers.Config{maskedEmbedding(6, 3), lstm(3, true), flat, dense(2, "")}, Loss: mse},
		{Name: "masked_embedding_lstm_sequences_global_avg", Input: ids, IDs: 6, Layers: []layers.Config{maskedEmbedding(6, 3), lstm(3, true), {Type: "GlobalAveragePooling1D"}, dense(2, "")}, Loss: mse},
		{Name: "masked_embedding_global_avg", Input: ids, IDs: 6, Layers: []layers.Config{maskedEmbedding(6, 3), {Type: "GlobalAveragePooling1D"}, dense(2, "")}, Loss: mse},
		{Name: "masked_embedding_gru", Input: ids, IDs: 6, Layers: []layers.Config{maskedEmbedding(6, 3), gru(3, false), dense(2, "")}, Loss: mse},
		{Name: "masked_embedding_bidirectional_lstm", Input: ids, IDs: 6, Layers: []layers.Config{maskedEmbedding(6, 3), bidi(lstm(2, false)), dense(2, "")}, Loss: mse},
		{Name: "masked_embedding_bidirectional_gru_sequences_flatten", Input: ids, IDs: 6, Layers: []layers.Config{maskedEmbedding(6, 3), bidi(gru(2, true)), flat, dense(2, "")}, Loss: mse},
	}
}

// maskPattern is which steps of the 8 samples of 5 ids are padding (id 0):
// at the end, in the middle, at the start, everywhere, nowhere.
var maskPattern = [][]int{{3, 4}, {2}, {0, 1}, {0, 1, 2, 3, 4}, {}, {1, 3}, {4}, {0, 2, 4}}

// pad redraws a prepared case's ids as 1..IDs-1 and sets maskPattern's
// steps to 0.
func (c *parityCase) pad(t *testing.T, r *rand.Rand) {
	t.Helper()
	s := c.x.Shape()
	if len(s) != 2 || s[0] != int64(len(maskPattern)) || s[1] != 5 {
		t.Fatalf("pad: ids of shape %v", s)
	}
	v := make([]float32, s[0]*s[1])
	for i := range v {
		v[i] = float32(1 + r.IntN(c.IDs-1))
	}
	for i, steps := range maskPattern {
		if len(steps) == 5 && strings.Contains(c.Name, "global_avg") {
			// A masked mean over no steps is 0/0, NaN in Keras as in Go.
			steps = steps[1:]
		}
		for _, j := range steps {
			v[i*5+j] = 0
		}
	}
	x, err := tfwrap.NewTensor(v, s...)
	if err != nil {
		t.Fatal(err)
	}
	c.x, c.X = x, toJSON(t, x)
}

// TestKerasParityRecurrent loads the same weights into Go and Keras 3 and
// compares, for LSTM, GRU and Bidirectional models (with Embedding masks),
// the inference outputs, the training-mode loss and its gradients (1e-5).
func TestKerasParityRecurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	cases := rnnParityCases()
	for _, c := range cases {
		c.prepare(t, r)
		if c.IDs > 0 {
			c.pad(t, r)
		}
	}
	type result struct {
		Pred  []float64   `json:"pred"`
		Loss  float64     `json:"loss"`
		Grads [][]float64 `json:"grads"`
	}
	var ref map[string]result
	if err := pyref.Run("keras_parity_rnn.py", map[string]any{"cases": cases}, &ref); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			want, ok := ref[c.Name]
			if !ok {
				t.Fatal("no Keras result")
			}
			c.compare(t, want.Pred, want.Loss, want.Grads)
		})
	}
}

// A recurrent layer that returns its states has several outputs: a
// Sequential model refuses it, as it refuses an option the layer does
// not take or a sequence of unknown length, with errors and no panic.
func TestSequentialRecurrentErrors(t *testing.T) {
	for _, c := range []struct {
		input []int64
		l     layers.Layer
		want  string
	}{
		{[]int64{5, 3}, layers.LSTM(2, layers.ReturnState()), "lstm: LSTM with ReturnState gives 3 outputs"},
		{[]int64{5, 3}, layers.Bidirectional(layers.GRU(2, layers.ReturnState())), "bidirectional: Bidirectional of GRU with ReturnState gives 3 outputs"},
		{[]int64{5, 3}, layers.LSTM(2, layers.WithStrides(2, 2)), "LSTM does not take option WithStrides"},
		{[]int64{5, 3}, layers.Bidirectional(layers.LSTM(2), layers.ReturnState()), "Bidirectional does not take option ReturnState"},
		{[]int64{15}, layers.GRU(2), "gru: GRU takes sequences (steps, features) per sample, got per-sample shape [15]"},
	} {
		if _, err := NewSequential(c.input, c.l); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSequential(%v, %s) = %v, want an error with %q", c.input, c.l.Type(), err, c.want)
		}
	}
}
