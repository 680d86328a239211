// The one lookup the C API lacks: whether TensorFlow's C++ gradient registry
// (the one TF_AddGradients uses) has an entry for an op type. Built by cgo
// with CGO_CXXFLAGS from .tf/env.sh (the wheel's headers, -std=c++17 -w);
// the symbol comes from the wheel's libtensorflow_cc.so.2.
#include <string>

#include "tensorflow/cc/framework/grad_op_registry.h"

extern "C" {

// gotf_cpp_gradient returns 0 when op_type has no C++ gradient, 1 when it
// has a gradient function and 2 when it is registered as not differentiable
// (REGISTER_NO_GRADIENT_OP: TF_AddGradients passes no gradient through it).
int gotf_cpp_gradient(const char* op_type) {
  tensorflow::ops::GradFunc f = nullptr;
  absl::Status s = tensorflow::ops::GradOpRegistry::Global()->Lookup(std::string(op_type), &f);
  if (!s.ok()) return 0;
  return f == nullptr ? 2 : 1;
}

}  // extern "C"
