package savedmodels

import (
	"testing"

	corepb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/tfgo-project/gotf/tfwrap"
)

// TestLoadThreadOptions: the ConfigProto LoadWith gives TensorFlow carries
// the thread pool sizes, and nothing more than before when they are 0.
func TestLoadThreadOptions(t *testing.T) {
	config := func(o LoadOptions) *corepb.ConfigProto {
		t.Helper()
		so, err := o.sessionOptions()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := tfwrap.SessionConfig(so...)
		if err != nil {
			t.Fatal(err)
		}
		var cfg corepb.ConfigProto
		if err := proto.Unmarshal(raw, &cfg); err != nil {
			t.Fatal(err)
		}
		return &cfg
	}
	if cfg := config(LoadOptions{}); !proto.Equal(cfg, &corepb.ConfigProto{}) {
		t.Errorf("default LoadOptions: ConfigProto %v, want empty", cfg)
	}
	cfg := config(LoadOptions{IntraOpThreads: 2, InterOpThreads: 1})
	if cfg.IntraOpParallelismThreads != 2 || cfg.InterOpParallelismThreads != 1 {
		t.Errorf("intra 2, inter 1: ConfigProto %v", cfg)
	}
	if cfg := config(LoadOptions{InterOpThreads: -1}); cfg.InterOpParallelismThreads != -1 || cfg.IntraOpParallelismThreads != 0 {
		t.Errorf("inter -1 (the caller's thread): ConfigProto %v", cfg)
	}
	if _, err := LoadWith(t.TempDir(), LoadOptions{IntraOpThreads: -1}); err == nil {
		t.Error("negative intra-op threads: no error")
	}
}
