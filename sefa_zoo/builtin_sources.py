"""The core's built-in source kinds (placeholder: being written)."""
