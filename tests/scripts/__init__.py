"""Tests that run scripts/*.sh as the pods run them, against fakes."""
