package pyref

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Root returns the repository root: the nearest folder above the working
// directory that holds go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("pyref: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Python returns the reference interpreter.
func Python() (string, error) {
	if p := os.Getenv("GOTF_PYTHON"); p != "" {
		return p, nil
	}
	root, err := Root()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".venv", "bin", "python")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("pyref: no Python TensorFlow at %s; run `make setup`", p)
	}
	return p, nil
}

// Run executes scripts/reference/<script> with in as JSON on stdin and
// decodes its stdout into out.
func Run(script string, in, out any) error {
	py, err := Python()
	if err != nil {
		return err
	}
	root, err := Root()
	if err != nil {
		return err
	}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	cmd := exec.Command(py, filepath.Join(root, "scripts", "reference", script))
	cmd.Stdin = bytes.NewReader(body)
	cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=2", "CUDA_VISIBLE_DEVICES=-1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pyref: %s: %v\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("pyref: %s: bad output: %v\n%s", script, err, stdout.String())
	}
	return nil
}

// Script runs scripts/<name> with args under the reference interpreter, for
// tests that need files a Python script makes (a SavedModel, a backbone).
func Script(name string, args ...string) error {
	py, err := Python()
	if err != nil {
		return err
	}
	root, err := Root()
	if err != nil {
		return err
	}
	cmd := exec.Command(py, append([]string{filepath.Join(root, "scripts", name)}, args...)...)
	cmd.Env = append(os.Environ(), "TF_CPP_MIN_LOG_LEVEL=3", "CUDA_VISIBLE_DEVICES=-1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pyref: %s: %v\n%s", name, err, out)
	}
	return nil
}

// KerasApp is a keras.applications MobileNetV2 without its top (alpha
// 0.35, random weights: nothing downloads) exported as a SavedModel by
// scripts/export_keras_app.py, with a test image and the features Python's
// tf.saved_model.load computes for it.
type KerasApp struct {
	Dir      string    // the SavedModel
	Size     int       // its images are Size × Size × 3
	Image    []float32 `json:"image"`
	Features []float64 `json:"features"`
}

// ExportKerasApp makes a KerasApp of size × size images in dir/mobilenet.
func ExportKerasApp(dir string, size int) (*KerasApp, error) {
	app := &KerasApp{Dir: filepath.Join(dir, "mobilenet"), Size: size}
	check := filepath.Join(dir, "check.json")
	if err := Script("export_keras_app.py", "--out", app.Dir, "--weights", "none", "--size", fmt.Sprint(size), "--alpha", "0.35", "--check", check); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(check)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, app); err != nil {
		return nil, fmt.Errorf("pyref: %s: %v", check, err)
	}
	return app, nil
}
