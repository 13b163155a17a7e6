"""Deploying handlers: nuclio function configs (``nuclio``) and function bundles with this mlrun's wheel (``bundle``)."""
