"""Sample data: the demo town and the documented JSON loader (docs/sample-format.md)."""
