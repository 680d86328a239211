// Package transfer is transfer learning with a pretrained backbone, as
// Keras's keras.applications with include_top=False: LoadBackbone reads
// what scripts/pretrain_backbone.py writes, Features runs the frozen
// backbone (a SavedModel, through savedmodels) for a new head to train on,
// and Layers with LoadInto rebuild it as models/layers, with its weights,
// to fine-tune inside a models.Sequential.
//
// It composes savedmodels (loading) with models (training), so that
// neither of them imports the other.
package transfer
