"""Tests of components/configuration/: the config schema and its values, units, pipelines, sizing."""
