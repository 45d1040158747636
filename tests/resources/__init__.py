"""Tests of components/resources/: the objects each component renders."""
