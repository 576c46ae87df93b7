"""NVIDIA persistence pickles without NVIDIA code (placeholder: being written)."""
