"""What runs inside a TorchServe worker: the handler (``handler.py``), which the archive carries and which
runs the bundle's exported model with ONNX Runtime, OpenVINO or torch alone and the ground package."""
