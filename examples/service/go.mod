module example.com/service

go 1.26.0

require github.com/tfgo-project/gotf v0.1.0

require (
	github.com/galeone/tensorflow/tensorflow/go v0.0.0-20221023090153-6b7fa0680c3e // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// In a clone of gotf the example builds against the clone; a user of the
// module has no replace (go test ./cmd/gotf -run OutsideModule drops it).
replace github.com/tfgo-project/gotf => ../..
