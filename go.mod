module github.com/tfgo-project/gotf

go 1.26

require (
	github.com/galeone/tensorflow/tensorflow/go v0.0.0-20221023090153-6b7fa0680c3e
	google.golang.org/protobuf v1.28.1
)
