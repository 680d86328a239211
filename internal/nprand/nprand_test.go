package nprand

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"

	"github.com/tfgo-project/gotf/internal/pyref"
)

// TestMatchesNumpy shuffles lists of several lengths with several seeds
// as numpy's RandomState.shuffle does.
func TestMatchesNumpy(t *testing.T) {
	py, err := pyref.Python()
	if err != nil {
		t.Fatal(err)
	}
	script := `
import json, numpy as np
out = {"shuffles": {}}
for seed in [0, 1, 42, 123456, 2**32 - 1]:
    for n in [1, 2, 3, 10, 257, 1000]:
        x = list(range(n)); np.random.RandomState(seed).shuffle(x)
        out["shuffles"][f"{seed}/{n}"] = x
print(json.dumps(out))`
	b, err := exec.Command(py, "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Shuffles map[string][]int `json:"shuffles"`
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for key, w := range want.Shuffles {
		var seed int64
		var count int
		fmt.Sscanf(key, "%d/%d", &seed, &count)
		r, err := New(seed)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]int, count)
		for i := range x {
			x[i] = i
		}
		r.Shuffle(count, func(i, j int) { x[i], x[j] = x[j], x[i] })
		if fmt.Sprint(x) != fmt.Sprint(w) {
			t.Errorf("seed %d, %d items: %v, numpy %v", seed, count, x[:min(10, count)], w[:min(10, count)])
		}
	}
	if _, err := New(-1); err == nil {
		t.Error("a negative seed was taken")
	}
}
