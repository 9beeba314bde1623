"""Frames -> detections -> tracks -> rule hits (ultralytics / onnxruntime). Arrives with the video issue."""
