"""Shared test set-up. The environment must be set before anything imports TensorFlow."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # see exporter/__init__.py
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
