"""Spec builders: pure functions from validated config to Kubernetes dicts, settings and request bodies."""
