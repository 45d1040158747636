"""Tests of components/generated/: the generated secrets and their dynamic providers."""
