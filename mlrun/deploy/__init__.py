"""Deploying handlers: nuclio function configs (``nuclio``), function bundles with this mlrun's wheel (``bundle``)."""
