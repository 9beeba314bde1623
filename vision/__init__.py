"""Frames -> detections -> tracks -> rule hits -> hub events with evidence.

Importing the package is light: the detector backends (onnxruntime, ultralytics and torch) and
OpenCV load only where they are used, so hosts without the video extras still run the hub.
"""
